//! Lets `shimmy-host` find `libllama.so.0` / `libggml*.so.0` next to itself, so no
//! LD_LIBRARY_PATH is needed (the llama-cpp-sys-2 build links them into `target/<profile>/`).
fn main() {
    #[cfg(target_os = "linux")]
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
}
