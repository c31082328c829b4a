//! The one validator of chat messages, whatever protocol or file they came from: at least one
//! message, and known roles. The wire formats check their own shapes (types, content parts,
//! which fields may be null, role aliases such as OpenAI's `developer`) before this.

use shimmy_plugins::ChatMessage;

use crate::error::EngineError;

/// The roles a chat message may have.
pub const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// Checks a conversation; errors name the field at fault (`messages[2].role`).
pub fn validate(messages: &[ChatMessage]) -> Result<(), EngineError> {
    if messages.is_empty() {
        return Err(EngineError::invalid(
            "messages",
            "`messages` is empty; send at least one message",
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(EngineError::invalid(
                format!("messages[{i}].role"),
                format!(
                    "`messages[{i}].role`: role \"{}\" is not one of {}",
                    m.role,
                    ROLES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugins::ToolCall;

    fn param(e: EngineError) -> Option<String> {
        match e {
            EngineError::InvalidRequest { param, .. } => param,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn good_chats_pass_and_bad_ones_name_the_field() {
        let mut assistant = ChatMessage::new("assistant", "");
        assistant.tool_calls = vec![ToolCall {
            id: "1".into(),
            name: "add".into(),
            arguments: "{}".into(),
        }];
        assert!(validate(&[ChatMessage::new("user", "hi"), assistant]).is_ok());
        assert_eq!(
            param(validate(&[]).unwrap_err()).as_deref(),
            Some("messages")
        );
        let e = validate(&[
            ChatMessage::new("user", "a"),
            ChatMessage::new("wizard", "b"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("role \"wizard\""), "{e}");
        assert_eq!(param(e).as_deref(), Some("messages[1].role"));
    }
}
