//! The events of a streamed Responses API answer, written by the one streaming writer
//! ([`crate::stream`]) as named server-sent events, each with its `sequence_number`:
//! `response.created`, `response.in_progress`; per output item `response.output_item.added`,
//! `response.content_part.added`, the deltas (`response.reasoning_text.delta`,
//! `response.output_text.delta`, `response.function_call_arguments.delta`), their `.done`
//! events, `response.content_part.done` and `response.output_item.done`; then
//! `response.completed` (or `response.incomplete` when cut at `max_output_tokens`). Function
//! calls, which the template's parser gives at the end, come last. An error after the
//! headers is an `error` event followed by `response.failed`.

use serde_json::{json, Value};
use shimmy_engine::generation::{Delta, Done, Generation};
use shimmy_engine::new_id;

use super::object::{
    call_item, call_item_id, message_item, reasoning_item, reasoning_part, returned_calls, status,
    text_part, usage, Header,
};
use crate::stream::Frames;

/// The kind of item open in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reasoning,
    Message,
}

/// The item being streamed.
struct Open {
    kind: Kind,
    id: String,
    index: usize,
    text: String,
}

/// The event writer of one streamed `/v1/responses` answer.
pub struct ResponseEvents {
    header: Header,
    sequence: u64,
    open: Option<Open>,
    items: Vec<Value>,
}

impl ResponseEvents {
    /// The writer of the response `header` describes.
    pub fn new(header: Header) -> Self {
        ResponseEvents {
            header,
            sequence: 0,
            open: None,
            items: Vec::new(),
        }
    }

    /// `event` with its `type` and the next sequence number.
    fn event(&mut self, kind: &str, mut event: Value, out: &mut Vec<Value>) {
        event["type"] = json!(kind);
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(event);
    }

    /// The open item of `kind`, opened (closing another) when needed.
    fn open(&mut self, kind: Kind, out: &mut Vec<Value>) -> (String, usize) {
        if let Some(open) = self.open.as_ref().filter(|o| o.kind == kind) {
            return (open.id.clone(), open.index);
        }
        self.close("completed", out);
        let index = self.items.len();
        let (id, item, part) = match kind {
            Kind::Reasoning => {
                let id = new_id("rs_");
                let mut item = reasoning_item(&id, "", "in_progress");
                item["content"] = json!([]);
                (id, item, reasoning_part(""))
            }
            Kind::Message => {
                let id = new_id("msg_");
                let mut item = message_item(&id, "", "in_progress");
                item["content"] = json!([]);
                (id, item, text_part(""))
            }
        };
        self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
            out,
        );
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            out,
        );
        self.open = Some(Open {
            kind,
            id: id.clone(),
            index,
            text: String::new(),
        });
        // The item's place in `output` is taken now; its final form replaces this.
        self.items.push(Value::Null);
        (id, index)
    }

    /// Ends the open item with `status`.
    fn close(&mut self, status: &str, out: &mut Vec<Value>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let (id, index) = (open.id.as_str(), open.index);
        let (done_kind, part, item) = match open.kind {
            Kind::Reasoning => (
                "response.reasoning_text.done",
                reasoning_part(&open.text),
                reasoning_item(id, &open.text, "completed"),
            ),
            Kind::Message => (
                "response.output_text.done",
                text_part(&open.text),
                message_item(id, &open.text, status),
            ),
        };
        let mut done = json!({"item_id": id, "output_index": index, "content_index": 0,
            "text": open.text});
        if open.kind == Kind::Message {
            done["logprobs"] = json!([]);
        }
        self.event(done_kind, done, out);
        self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            out,
        );
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            out,
        );
        self.items[index] = item;
    }

    fn append(&mut self, kind: Kind, text: &str, out: &mut Vec<Value>) {
        let (id, index) = self.open(kind, out);
        if let Some(open) = self.open.as_mut() {
            open.text.push_str(text);
        }
        let (name, mut event) = match kind {
            Kind::Reasoning => ("response.reasoning_text.delta", json!({})),
            Kind::Message => ("response.output_text.delta", json!({"logprobs": []})),
        };
        event["item_id"] = json!(id);
        event["output_index"] = json!(index);
        event["content_index"] = json!(0);
        event["delta"] = json!(text);
        self.event(name, event, out);
    }
}

impl Frames for ResponseEvents {
    fn opening(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        let response = self.header.response("in_progress", Vec::new(), None);
        self.event(
            "response.created",
            json!({"response": response.clone()}),
            &mut out,
        );
        self.event(
            "response.in_progress",
            json!({"response": response}),
            &mut out,
        );
        out
    }

    fn deltas(&mut self, delta: &Delta) -> Vec<Value> {
        let mut out = Vec::new();
        if !delta.reasoning.is_empty() {
            self.append(Kind::Reasoning, &delta.reasoning, &mut out);
        }
        if !delta.content.is_empty() {
            self.append(Kind::Message, &delta.content, &mut out);
        }
        out
    }

    fn closing(&mut self, _: &Generation, done: &Done) -> Vec<Value> {
        let mut out = Vec::new();
        let status = status(done);
        self.close(status, &mut out);
        for call in returned_calls(done, &self.header.echo) {
            let index = self.items.len();
            let id = call_item_id(call);
            self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": call_item(&id, call, "", "in_progress")}),
                &mut out,
            );
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index, "delta": call.arguments}),
                &mut out,
            );
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "name": call.name,
                    "arguments": call.arguments}),
                &mut out,
            );
            let item = call_item(&id, call, &call.arguments, "completed");
            self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
                &mut out,
            );
            self.items.push(item);
        }
        let response = self.header.response(
            status,
            std::mem::take(&mut self.items),
            Some(usage(&done.summary)),
        );
        let name = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(name, json!({ "response": response }), &mut out);
        out
    }

    fn failure(&mut self, error: Value) -> Vec<Value> {
        let mut out = Vec::new();
        let e = &error["error"];
        let (code, message, param) = (e["code"].clone(), e["message"].clone(), e["param"].clone());
        self.event(
            "error",
            json!({"code": code, "message": message, "param": param}),
            &mut out,
        );
        let items = self
            .items
            .iter()
            .filter(|i| !i.is_null())
            .cloned()
            .collect();
        let mut response = self.header.response("failed", items, None);
        response["error"] = json!({"code": code, "message": message});
        self.event("response.failed", json!({ "response": response }), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Flavor, ServerError};
    use crate::responses::types::ResponsesRequest;

    #[test]
    fn an_error_after_the_headers_is_an_error_event_then_response_failed() {
        let request: ResponsesRequest =
            crate::body::read(json!({"input": "hi"}).to_string().as_bytes()).unwrap();
        let header = Header {
            id: "resp_1".into(),
            created_at: 0,
            model: "m".into(),
            echo: request.into_request().unwrap().echo,
        };
        let mut events = ResponseEvents::new(header);
        let opening = events.opening();
        let mut out = Vec::new();
        events.append(Kind::Message, "partial", &mut out);
        let error = ServerError::invalid("max_tokens", "too long").body(Flavor::OpenAi);
        let failed = events.failure(error);
        assert_eq!(failed[0]["type"], "error");
        assert_eq!(failed[0]["message"], "too long");
        assert_eq!(failed[0]["param"], "max_tokens");
        assert_eq!(failed[0]["code"], "invalid_request");
        assert_eq!(failed[1]["type"], "response.failed");
        assert_eq!(failed[1]["response"]["status"], "failed");
        assert_eq!(failed[1]["response"]["error"]["message"], "too long");
        let numbers: Vec<u64> = opening
            .iter()
            .chain(&out)
            .chain(&failed)
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    }
}
