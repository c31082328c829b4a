use super::*;
use crate::planner::tests::{qwen_like, request};
use crate::planner::{plan, MIB};

const GIB: u64 = 1 << 30;

fn devices(budgets: &[u64]) -> DevicesRequest {
    DevicesRequest {
        mode: MoeOffload::Auto,
        devices: budgets
            .iter()
            .enumerate()
            .map(|(i, &budget)| DeviceSlot {
                name: format!("CUDA{i}"),
                budget,
                profile: DeviceProfile::CUDA,
            })
            .collect(),
        tensor_split: None,
        ctx_per_seq: 4096,
        parallel: 1,
        ubatch: None,
    }
}

/// llama.cpp's assignment from `tensor_split` (llama-model.cpp: cumulative shares, a layer
/// goes to the first device whose share is above its position).
fn llama_assignment(split: &[f32], n: u32) -> Vec<usize> {
    let total: f32 = split.iter().sum();
    let mut acc = 0.0;
    let cum: Vec<f32> = split
        .iter()
        .map(|w| {
            acc += w;
            acc / total
        })
        .collect();
    (0..n)
        .map(|il| {
            let x = il as f32 / n as f32;
            cum.iter().position(|&c| c > x).unwrap_or(split.len() - 1)
        })
        .collect()
}

/// The checks every plan must pass: each device within its budget, contiguous layers covering
/// the model and its output layer, nothing on a device without layers, and a `tensor_split`
/// llama.cpp turns into exactly these ranges.
fn check(g: &GgufFile, r: &DevicesRequest, p: &DevicesPlan) {
    let n = ModelShape::from_gguf(g).unwrap().n_layer + 1;
    let mut next = 0;
    for (part, slot) in p.parts.iter().zip(&r.devices) {
        assert_eq!(part.layers.start, next, "{p:#?}");
        next = part.layers.end;
        assert!(
            part.estimate.total() <= slot.budget,
            "{}: {} over {}",
            slot.name,
            part.estimate.total(),
            slot.budget
        );
        if part.layers.is_empty() {
            assert_eq!(part.estimate.total(), 0, "{}", slot.name);
            assert_eq!(part.expert_tensors, 0);
        }
    }
    assert_eq!(next, n);
    let split = p.tensor_split();
    let owner = llama_assignment(&split, n);
    for (d, part) in p.parts.iter().enumerate() {
        for il in part.layers.clone() {
            assert_eq!(owner[il as usize], d, "layer {il}: {split:?}");
        }
    }
    let host: usize = p.parts.iter().map(|d| d.expert_tensors_host).sum();
    assert_eq!(host, p.expert_tensors_host);
}

#[test]
fn one_device_plans_as_the_one_device_planner() {
    let g = qwen_like(48, 128);
    for gib in [2u64, 3, 4, 5] {
        let budget = gib * GIB;
        let one = plan(&g, &request(MoeOffload::Auto, Some(budget))).unwrap();
        let r = devices(&[budget]);
        let many = plan_devices(&g, &r).unwrap();
        check(&g, &r, &many);
        assert_eq!(
            many.expert_tensors_host, one.expert_tensors_host,
            "{gib} GiB"
        );
        assert_eq!(many.patterns, one.patterns);
        assert_eq!(many.ubatch, one.ubatch);
        assert_eq!(many.parts[0].estimate.total(), one.estimate.total());
    }
}

#[test]
fn two_and_four_devices_each_stay_within_their_budget() {
    let g = qwen_like(48, 128);
    let sets: [&[u64]; 6] = [
        &[2 * GIB, 2 * GIB],
        &[3 * GIB, 3 * GIB],
        &[2 * GIB, 4 * GIB],
        &[4 * GIB, 2 * GIB],
        &[GIB + GIB / 2, 2 * GIB, 3 * GIB, 5 * GIB],
        &[2 * GIB, 2 * GIB, 2 * GIB, 2 * GIB],
    ];
    for budgets in sets {
        let r = devices(budgets);
        let p = plan_devices(&g, &r).unwrap();
        check(&g, &r, &p);
        assert!(p.used_devices().len() == budgets.len(), "{p:#?}");
        // The larger budget holds more layers.
        let (small, large) = (
            budgets
                .iter()
                .position(|b| b == budgets.iter().min().unwrap()),
            budgets
                .iter()
                .position(|b| b == budgets.iter().max().unwrap()),
        );
        let (s, l) = (small.unwrap(), large.unwrap());
        assert!(p.parts[l].layers.len() >= p.parts[s].layers.len(), "{p:#?}");
        // Every device is used to within two expert tensors of its budget when experts stay
        // on the host.
        if p.expert_tensors_host > 0 {
            let tensor =
                memory::device_tensor_bytes(g.tensor("blk.0.ffn_down_exps.weight").unwrap());
            for (part, slot) in p.parts.iter().zip(&r.devices) {
                if part.expert_tensors_host > 0 {
                    assert!(
                        slot.budget - part.estimate.total() < 2 * tensor,
                        "{}: {} left: {p:#?}",
                        slot.name,
                        slot.budget - part.estimate.total()
                    );
                }
            }
        }
    }
}

#[test]
fn a_nearly_full_device_gets_no_layers() {
    let g = qwen_like(48, 128);
    // CUDA1 has 300 MiB left: less than its backend context alone.
    let r = devices(&[3 * GIB, 300 * MIB, 3 * GIB]);
    let p = plan_devices(&g, &r).unwrap();
    check(&g, &r, &p);
    assert!(p.parts[1].layers.is_empty(), "{p:#?}");
    assert_eq!(p.used_devices(), vec![0, 2]);
    assert_eq!(p.tensor_split()[1], 0.0);
    // With only that device the model does not fit: a clear error naming it.
    let err = plan_devices(&g, &devices(&[300 * MIB]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("CUDA0 has 300.0 MiB"), "{err}");
    assert!(err.contains("--vram-budget-mb"), "{err}");
}

#[test]
fn more_budget_never_means_fewer_experts_on_the_gpus() {
    let g = qwen_like(48, 128);
    let mut last = 0;
    for step in 0..24u64 {
        let b = 1200 * MIB + step * 128 * MIB;
        let r = devices(&[b, b + b / 2]);
        let p = plan_devices(&g, &r).unwrap();
        check(&g, &r, &p);
        let on_gpu = p.expert_tensors_total - p.expert_tensors_host;
        // Rounding the layer split may cost a split layer's part: at most two tensors.
        assert!(on_gpu + 2 >= last, "{b}: {on_gpu} after {last}");
        last = last.max(on_gpu);
    }
    assert_eq!(last, 48 * 3, "the largest budgets hold every expert");
}

#[test]
fn tensor_split_is_followed_and_checked() {
    let g = qwen_like(48, 128);
    let mut r = devices(&[4 * GIB, 4 * GIB]);
    r.tensor_split = Some(vec![3.0, 1.0]);
    let p = plan_devices(&g, &r).unwrap();
    check(&g, &r, &p);
    assert_eq!(p.parts[0].layers, 0..37);
    assert_eq!(p.parts[1].layers, 37..49);
    // A device given more layers than its budget holds even with their experts on the host.
    let mut tight = devices(&[4 * GIB, 800 * MIB]);
    tight.tensor_split = Some(vec![1.0, 3.0]);
    let err = plan_devices(&g, &tight).unwrap_err().to_string();
    assert!(err.contains("CUDA1 cannot hold layers 12..49"), "{err}");
    for (split, what) in [
        (vec![1.0], "1 entries for 2 devices"),
        (vec![0.0, 0.0], "at least one above 0"),
        (vec![-1.0, 2.0], "non-negative"),
    ] {
        let mut bad = devices(&[4 * GIB, 4 * GIB]);
        bad.tensor_split = Some(split);
        let err = plan_devices(&g, &bad).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    assert!(plan_devices(&g, &devices(&[])).is_err());
}

#[test]
fn fixed_modes_are_split_and_estimated() {
    let g = qwen_like(48, 128);
    let mut r = devices(&[2 * GIB, 2 * GIB]);
    r.mode = MoeOffload::All;
    let p = plan_devices(&g, &r).unwrap();
    assert_eq!(p.expert_tensors_host, 48 * 3);
    assert_eq!(p.ubatch, 4096);
    r.mode = MoeOffload::FirstLayers(10);
    let p = plan_devices(&g, &r).unwrap();
    assert_eq!(p.expert_tensors_host, 30);
    // Layers 0..10 are on the first device, so its experts are the ones on the host.
    assert_eq!(p.parts[0].expert_tensors_host, 30);
    assert_eq!(p.parts[1].expert_tensors_host, 0);
}

#[test]
fn apportion_is_exact_and_contiguous() {
    assert_eq!(apportion(49, &[1.0, 1.0]), vec![25, 24]);
    assert_eq!(apportion(49, &[0.0, 1.0]), vec![0, 49]);
    assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
    assert_eq!(apportion(5, &[0.0, 0.0]), vec![0, 0]);
    assert_eq!(ranges(&[2, 0, 3]), vec![0..2, 2..2, 2..5]);
}

#[test]
fn no_device_gets_more_layers_than_it_holds_with_experts_on_the_host() {
    let g = qwen_like(48, 128);
    // Rooms of one to a few layers: proportional shares would give CUDA0 more than it holds.
    let base = plan_devices(&g, &devices(&[GIB, GIB])).unwrap();
    let first = base.parts[0].estimate.total() - base.parts[0].estimate.weights;
    for extra in [2 * MIB, 8 * MIB, 40 * MIB] {
        let r = devices(&[first + extra, 6 * GIB]);
        let p = plan_devices(&g, &r).unwrap();
        check(&g, &r, &p);
    }
}
