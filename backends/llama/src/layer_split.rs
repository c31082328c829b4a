//! Which device llama.cpp puts each layer on when a model spans several devices (a GPU and
//! rpc workers): the same rule as `llama_model::load_tensors` in the vendored llama.cpp, so
//! the report can say where the layers went before any of them is computed.
//!
//! With `tensor_split` left empty llama.cpp weighs the devices by their free memory: the
//! first `n_layer + 1 - n_gpu_layers` layers stay on the host CPU, the others go to device
//! `i` while `(layer - first) / offloaded` is below the cumulative share of devices `0..=i`.
//! Layer `n_layer` is the output layer.

/// A run of consecutive layers on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpan {
    /// The device (`CPU` for the head's host memory, else the ggml device label).
    pub device: String,
    /// First and last layer (inclusive); `n_layer` is the output layer.
    pub first: u32,
    /// Last layer (inclusive).
    pub last: u32,
}

impl std::fmt::Display for LayerSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "layer {} on {}", self.first, self.device)
        } else {
            write!(f, "layers {}-{} on {}", self.first, self.last, self.device)
        }
    }
}

/// The spans for `n_layer` layers (plus the output layer) with `n_gpu_layers` offloaded to
/// `devices` (label, free bytes), in llama.cpp's order.
pub fn split(n_layer: u32, n_gpu_layers: u32, devices: &[(String, u64)]) -> Vec<LayerSpan> {
    let all = n_layer + 1;
    let offloaded = if devices.is_empty() {
        0
    } else {
        n_gpu_layers.min(all)
    };
    let first_gpu = all - offloaded;
    // In f32, as llama.cpp computes it.
    let mut cumulative = Vec::with_capacity(devices.len());
    let mut sum = 0.0f32;
    for (_, free) in devices {
        sum += *free as f32;
        cumulative.push(sum);
    }
    let cumulative: Vec<f32> = cumulative.iter().map(|c| c / sum).collect();
    let mut spans: Vec<LayerSpan> = Vec::new();
    for layer in 0..all {
        let device = if layer < first_gpu {
            "CPU".to_string()
        } else {
            let x = (layer - first_gpu) as f32 / offloaded as f32;
            // upper_bound: the first split point greater than x.
            let i = cumulative
                .partition_point(|&c| c <= x)
                .min(devices.len() - 1);
            devices[i].0.clone()
        };
        match spans.last_mut() {
            Some(span) if span.device == device => span.last = layer,
            _ => spans.push(LayerSpan {
                device,
                first: layer,
                last: layer,
            }),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(spans: &[LayerSpan]) -> Vec<String> {
        spans.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn even_devices_share_the_offloaded_layers() {
        let devices = [("RPC0".to_string(), 100), ("RPC1".to_string(), 100)];
        // 4 layers + output, 3 offloaded: layers 0-1 stay on the CPU.
        assert_eq!(
            labels(&split(4, 3, &devices)),
            ["layers 0-1 on CPU", "layers 2-3 on RPC0", "layer 4 on RPC1"]
        );
        assert_eq!(
            labels(&split(3, 4, &devices)),
            ["layers 0-1 on RPC0", "layers 2-3 on RPC1"]
        );
    }

    #[test]
    fn free_memory_weighs_the_split() {
        let devices = [("A".to_string(), 300), ("B".to_string(), 100)];
        assert_eq!(
            labels(&split(7, 8, &devices)),
            ["layers 0-5 on A", "layers 6-7 on B"]
        );
    }

    #[test]
    fn without_devices_everything_stays_on_the_cpu() {
        assert_eq!(labels(&split(2, 3, &[])), ["layers 0-2 on CPU"]);
    }
}
