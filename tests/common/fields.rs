//! Splitting a ttrapd message into its kind and `key=value` fields, and
//! reducing an alert to the fields that describe the event.
//!
//! An ALERT names the trap and the event first (`trap`, `event`, `entry`,
//! `action`, `changed`, `via`), then who did it: the process fields that
//! fanotify gives, or `holders` in inotify mode. Which process fields
//! appear depends on timing (a process that has exited is `proc=exited`),
//! so the alert tests compare the event fields exactly and check process
//! fields only where the kernel makes them certain.

/// Fields that describe the event, in the order ttrapd writes them.
const EVENT_KEYS: [&str; 7] = ["trap", "event", "entry", "path", "action", "changed", "via"];

/// Fields that name the process behind an event; they follow the event
/// fields.
const PROCESS_KEYS: [&str; 17] = [
    "holders", "pid", "proc", "ppid", "uid", "euid", "gid", "auid", "ses", "tty", "from",
    "from_src", "exe", "comm", "cwd", "cmd", "chain",
];

/// A message split into its first word and its fields, values as written
/// (escaped, with their quotes).
#[derive(Debug)]
pub struct Message {
    pub kind: String,
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// Splits `text`. A quoted value that has no closing quote, because
    /// syslogd cut the line, runs to the end.
    pub fn parse(text: &str) -> Message {
        let (kind, mut rest) = text.split_once(' ').unwrap_or((text, ""));
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                fields.push((rest.to_string(), String::new()));
                break;
            };
            let end = value_len(after);
            fields.push((key.to_string(), after[..end].to_string()));
            rest = after[end..].strip_prefix(' ').unwrap_or(&after[end..]);
        }
        Message { kind: kind.to_string(), fields }
    }

    /// Returns the value of the first field named `key`, as written.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }
}

/// Returns the length of the value at the start of `text`: up to the next
/// space, or through the closing quote of a quoted value.
fn value_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return text.find(' ').unwrap_or(text.len());
    }
    let mut index = 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return index + 1,
            _ => index += 1,
        }
    }
    text.len()
}

/// Returns `message` without its process fields when it is an ALERT or
/// ALLOWED line, and unchanged otherwise. Fields that are neither event
/// nor process fields are reduced, so an unexpected field still shows in a
/// comparison. Panics when an event field follows a process field.
pub fn event_part(message: &str) -> String {
    let parsed = Message::parse(message);
    if parsed.kind != "ALERT" && parsed.kind != "ALLOWED" {
        return message.to_string();
    }
    let mut reduced = parsed.kind.clone();
    let mut process_field_seen = None;
    for (key, value) in &parsed.fields {
        if PROCESS_KEYS.contains(&key.as_str()) {
            process_field_seen.get_or_insert(key.clone());
            continue;
        }
        if let Some(process_key) = &process_field_seen {
            assert!(
                !EVENT_KEYS.contains(&key.as_str()),
                "event field {key:?} follows the process field {process_key:?} in {message:?}"
            );
        }
        reduced.push(' ');
        reduced.push_str(key);
        reduced.push('=');
        reduced.push_str(value);
    }
    reduced
}
