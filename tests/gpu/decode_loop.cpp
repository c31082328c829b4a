// A reference decode loop on llama.cpp's C API, to tell what a context setting costs per token
// against llama-bench's tg128: one model, then contexts of several settings taken in turn
// (interleaved), each decoding N single tokens after a BOS, timing the `llama_decode` call
// (graph inputs set, work queued) and the wait for the device (`llama_synchronize`) apart.
//
//   decode_loop MODEL [N_GEN] [ROUNDS] [THREADS]
//
// Settings (one line each in the output):
//   bench    n_ctx 256, 1 sequence, KV per sequence, no sampler, llama_batch_get_one (llama-bench)
//   server   n_ctx 4608, 1 sequence, unified KV, greedy device sampler, explicit batch (shimmy-host)
//   nosamp   `server` without the device sampler (a random next token, as llama-bench)
//   split    `server` with a KV buffer per sequence
//   small    `server` with n_ctx 256
// Build (next to llama.cpp's headers and libllama.so):
//   g++ -O2 -std=c++17 decode_loop.cpp -I include -I ggml/include -L lib -lllama -lggml -lggml-base
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using clk = std::chrono::steady_clock;

struct Setting {
    const char * name;
    uint32_t n_ctx;
    bool unified;
    bool device_sampler;
    bool get_one;
};

static double us(clk::time_point a, clk::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [N_GEN] [ROUNDS] [THREADS]\n", argv[0]);
        return 2;
    }
    const int n_gen = argc > 2 ? atoi(argv[2]) : 128;
    const int rounds = argc > 3 ? atoi(argv[3]) : 3;
    const int threads = argc > 4 ? atoi(argv[4]) : 16;
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    ggml_backend_load_all();
    llama_backend_init();
    auto mp = llama_model_default_params();
    mp.n_gpu_layers = 999;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    const std::vector<Setting> settings = {
        {"bench", 256, false, false, true},
        {"server", 4608, true, true, false},
        {"nosamp", 4608, true, false, false},
        {"split", 4608, false, true, false},
        {"small", 256, true, true, false},
    };
    std::vector<std::vector<double>> tps(settings.size()), launch(settings.size()), device(settings.size());
    for (int r = 0; r < rounds; r++) {
        for (size_t k = 0; k < settings.size(); k++) {
            const Setting & s = settings[(k + r) % settings.size()];
            const size_t idx = (k + r) % settings.size();
            auto cp = llama_context_default_params();
            cp.n_ctx = s.n_ctx;
            cp.n_batch = 2048;
            cp.n_ubatch = 512;
            cp.n_seq_max = 1;
            cp.kv_unified = s.unified;
            cp.n_threads = threads;
            cp.n_threads_batch = threads;
            cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
            if (!s.get_one) {
                cp.n_outputs_max = 1;
                cp.n_outputs_max_per_seq = 1;
            }
            llama_context * ctx = llama_init_from_model(model, cp);
            if (!ctx) {
                fprintf(stderr, "%s: no context\n", s.name);
                return 1;
            }
            llama_sampler * chain = nullptr;
            if (s.device_sampler) {
                chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
                llama_sampler_chain_add(chain, llama_sampler_init_greedy());
                if (!llama_set_sampler(ctx, 0, chain)) {
                    fprintf(stderr, "%s: the device cannot run the sampler\n", s.name);
                }
            }
            llama_batch batch = llama_batch_init(1, 0, 1);
            // warm-up (graph, CUDA graph), then the measured run from an empty cache
            for (int pass = 0; pass < 2; pass++) {
                llama_memory_clear(llama_get_memory(ctx), true);
                llama_token token = llama_vocab_bos(vocab);
                double t_launch = 0, t_device = 0;
                const int n = pass == 0 ? 16 : n_gen;
                auto start = clk::now();
                for (int i = 0; i < n; i++) {
                    auto t0 = clk::now();
                    int rc;
                    if (s.get_one) {
                        rc = llama_decode(ctx, llama_batch_get_one(&token, 1));
                    } else {
                        batch.n_tokens = 1;
                        batch.token[0] = token;
                        batch.pos[0] = i;
                        batch.n_seq_id[0] = 1;
                        batch.seq_id[0][0] = 0;
                        batch.logits[0] = 1;
                        rc = llama_decode(ctx, batch);
                    }
                    auto t1 = clk::now();
                    llama_synchronize(ctx);
                    auto t2 = clk::now();
                    if (rc != 0) {
                        fprintf(stderr, "%s: decode failed (%d)\n", s.name, rc);
                        return 1;
                    }
                    t_launch += us(t0, t1);
                    t_device += us(t1, t2);
                    token = chain ? llama_get_sampled_token_ith(ctx, 0) : std::rand() % n_vocab;
                    if (token < 0) {
                        fprintf(stderr, "%s: nothing sampled\n", s.name);
                        return 1;
                    }
                }
                if (pass == 1) {
                    double total = us(start, clk::now());
                    tps[idx].push_back(n * 1e6 / total);
                    launch[idx].push_back(t_launch / n);
                    device[idx].push_back(t_device / n);
                }
            }
            llama_batch_free(batch);
            if (chain) {
                llama_set_sampler(ctx, 0, nullptr);
                llama_sampler_free(chain);
            }
            llama_free(ctx);
        }
    }
    auto med = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    for (size_t k = 0; k < settings.size(); k++) {
        printf("%-7s tok/s %.1f (%.1f-%.1f)  launch %.1f us  device %.1f us  (median of %d)\n",
               settings[k].name, med(tps[k]), *std::min_element(tps[k].begin(), tps[k].end()),
               *std::max_element(tps[k].begin(), tps[k].end()), med(launch[k]), med(device[k]),
               rounds);
    }
    llama_model_free(model);
    return 0;
}
