//! Raw `wit-bindgen` output for the three worlds of `shimmy:plugin@0.1.2`.
//!
//! Plugin authors should not need this module: use the traits, the `export_*!` macros and the
//! friendly import modules at the crate root instead. It is public only because the export macros
//! expand inside the plugin crate and must name the generated code.
//!
//! Each world is generated once. The `template` bindings own the shared interfaces (`types`,
//! `log`, `config`); the `tool` and `workflow` bindings reuse them through `with`, so a
//! [`crate::ChatMessage`] is one Rust type whichever world a plugin exports.
//!
//! `pub_export_macro: true` makes wit-bindgen put only the *imports* of each world into the
//! custom section compiled into this library; the full world (imports and exports) is emitted by
//! the export macro inside the plugin crate. So a template plugin's component exports only
//! `template` even though this crate knows all three worlds, and wit-component drops the imports
//! a plugin never calls (a template plugin does not import `inference`).

/// Bindings of world `template-plugin` (also the home of `types`, `log` and `config`).
pub mod template {
    wit_bindgen::generate!({
        path: "../../wit/0.1.2",
        world: "shimmy:plugin/template-plugin@0.1.2",
        runtime_path: "shimmy_plugin_sdk::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_template_world",
        default_bindings_module: "shimmy_plugin_sdk::bindings::template",
        generate_unused_types: true,
        additional_derives: [PartialEq],
    });
}

/// Bindings of world `tool-plugin`.
pub mod tool {
    wit_bindgen::generate!({
        path: "../../wit/0.1.2",
        world: "shimmy:plugin/tool-plugin@0.1.2",
        runtime_path: "shimmy_plugin_sdk::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_tool_world",
        default_bindings_module: "shimmy_plugin_sdk::bindings::tool",
        with: {
            "shimmy:plugin/types@0.1.2": crate::bindings::template::shimmy::plugin::types,
            "shimmy:plugin/log@0.1.2": crate::bindings::template::shimmy::plugin::log,
            "shimmy:plugin/config@0.1.2": crate::bindings::template::shimmy::plugin::config,
        },
    });
}

/// Bindings of world `workflow-plugin` (also the home of `inference` and `tools`).
pub mod workflow {
    wit_bindgen::generate!({
        path: "../../wit/0.1.2",
        world: "shimmy:plugin/workflow-plugin@0.1.2",
        runtime_path: "shimmy_plugin_sdk::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_workflow_world",
        default_bindings_module: "shimmy_plugin_sdk::bindings::workflow",
        additional_derives: [PartialEq],
        with: {
            "shimmy:plugin/types@0.1.2": crate::bindings::template::shimmy::plugin::types,
            "shimmy:plugin/log@0.1.2": crate::bindings::template::shimmy::plugin::log,
            "shimmy:plugin/config@0.1.2": crate::bindings::template::shimmy::plugin::config,
        },
    });
}
