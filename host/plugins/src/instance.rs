//! A plugin's pre-linked component and its live instance, typed by the world it exports (the
//! three contract versions of templates apart). Below both the runtime, which makes them, and
//! the typed calls, which run exports on an instance.

use crate::bindings::{legacy_template, template, template_011, tool, workflow};
use crate::host::HostState;

/// A plugin pre-linked against the host's imports, ready to instantiate.
pub(crate) enum Pre {
    Template(template::TemplatePluginPre<HostState>),
    Template011(template_011::TemplatePluginPre<HostState>),
    LegacyTemplate(legacy_template::TemplatePluginPre<HostState>),
    Tool(tool::ToolPluginPre<HostState>),
    Workflow(workflow::WorkflowPluginPre<HostState>),
}

/// A fresh instance of a plugin, typed by its world.
pub(crate) enum Instance {
    Template(template::TemplatePlugin),
    /// A template built against contract 0.1.1 (see `v011.rs`).
    Template011(template_011::TemplatePlugin),
    /// A template built against contract 0.1.0 (see `legacy.rs`).
    LegacyTemplate(legacy_template::TemplatePlugin),
    Tool(tool::ToolPlugin),
    Workflow(workflow::WorkflowPlugin),
}
