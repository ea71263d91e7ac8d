//! What a notification channel is (CONTRACT 8) and how its `config` is read: the public part,
//! kept and shown, and the secret (Telegram bot token, Slack webhook URL), kept and never shown.

use lettre::Address;
use serde_json::{json, Map, Value};

/// The most fixed addresses one e-mail channel may list.
pub const ADDRESSES_MAX: usize = 50;
/// The longest channel name.
pub const NAME_MAX: usize = 200;

/// A refusal: the member of `config` it names and why.
pub type Refusal = (String, String);

/// The channel kinds.
pub const KINDS: [&str; 3] = ["email", "telegram", "slack"];

/// Who an e-mail channel writes to when it names a role of the ticket.
pub const TO_ROLES: [&str; 3] = ["assignee", "requester", "agents"];

/// A channel's configuration as read: `public` is stored and shown, `secret` only stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// email `{to}` or `{to_role}`; telegram `{chat_id}`; slack `{}`.
    pub public: Value,
    /// The bot token or the webhook URL; `None` keeps the stored one (a PATCH that leaves it
    /// out).
    pub secret: Option<String>,
}

/// Reads `config` for a channel of `kind`. A PATCH (`patching`) may leave the secret out to
/// keep the stored one. A Slack URL's policy (scheme, addresses) is checked by the caller, who
/// knows the allow-lists and can resolve names.
pub fn parse(kind: &str, value: &Value, patching: bool) -> Result<Config, Vec<Refusal>> {
    let one = |field: &str, message: String| vec![(field.to_string(), message)];
    let object = value
        .as_object()
        .ok_or_else(|| one("", "must be an object".into()))?;
    match kind {
        "email" => email(object),
        "telegram" => {
            unknown(object, &["bot_token", "chat_id"])?;
            let chat_id = match object.get("chat_id") {
                Some(Value::String(s)) if is_chat_name(s) => Value::String(s.clone()),
                Some(Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
                None | Some(Value::Null) => return Err(one("chat_id", "is required".into())),
                Some(_) => {
                    return Err(one(
                        "chat_id",
                        "must be an integer chat id or an @channelusername".into(),
                    ))
                }
            };
            let secret =
                match object.get("bot_token") {
                    Some(Value::String(token)) if is_bot_token(token) => Some(token.clone()),
                    None | Some(Value::Null) if patching => None,
                    None | Some(Value::Null) => return Err(one("bot_token", "is required".into())),
                    Some(_) => return Err(one(
                        "bot_token",
                        "must be a Bot API token (digits, ':', then letters, digits, '_' or '-')"
                            .into(),
                    )),
                };
            Ok(Config {
                public: json!({ "chat_id": chat_id }),
                secret,
            })
        }
        "slack" => {
            unknown(object, &["webhook_url"])?;
            let secret = match object.get("webhook_url") {
                Some(Value::String(url)) if !url.is_empty() && !url.contains('\0') => {
                    Some(url.clone())
                }
                None | Some(Value::Null) if patching => None,
                None | Some(Value::Null) => return Err(one("webhook_url", "is required".into())),
                Some(_) => return Err(one("webhook_url", "must be a URL".into())),
            };
            Ok(Config {
                public: json!({}),
                secret,
            })
        }
        _ => Err(one("", format!("cannot be read for kind '{kind}'"))),
    }
}

fn email(object: &Map<String, Value>) -> Result<Config, Vec<Refusal>> {
    let one = |field: &str, message: String| vec![(field.to_string(), message)];
    unknown(object, &["to", "to_role"])?;
    match (object.get("to"), object.get("to_role")) {
        (Some(to), None) => {
            let addresses: Option<Vec<&str>> = to
                .as_array()
                .and_then(|items| items.iter().map(Value::as_str).collect());
            let Some(addresses) = addresses.filter(|a| !a.is_empty() && a.len() <= ADDRESSES_MAX)
            else {
                return Err(one(
                    "to",
                    format!("must be an array of 1 to {ADDRESSES_MAX} e-mail addresses"),
                ));
            };
            let mut checked = Vec::with_capacity(addresses.len());
            for address in addresses {
                match address.trim().parse::<Address>() {
                    Ok(parsed) => checked.push(parsed.to_string()),
                    Err(_) => {
                        return Err(one(
                            "to",
                            format!("'{}' is not an e-mail address", address.escape_debug()),
                        ))
                    }
                }
            }
            Ok(Config {
                public: json!({ "to": checked }),
                secret: None,
            })
        }
        (None, Some(role)) => match role.as_str() {
            Some(role) if TO_ROLES.contains(&role) => Ok(Config {
                public: json!({ "to_role": role }),
                secret: None,
            }),
            _ => Err(one(
                "to_role",
                format!("must be one of {}", TO_ROLES.join(", ")),
            )),
        },
        _ => Err(one("", "must hold either to or to_role".into())),
    }
}

fn unknown(object: &Map<String, Value>, known: &[&str]) -> Result<(), Vec<Refusal>> {
    let mut extra: Vec<Refusal> = object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| (k.clone(), "is not a known field".to_string()))
        .collect();
    extra.sort();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(extra)
    }
}

/// A Bot API token: the bot's id, `:`, and its key. Kept this strict because it becomes part
/// of the request path (`/bot<token>/sendMessage`).
fn is_bot_token(token: &str) -> bool {
    let Some((id, key)) = token.split_once(':') else {
        return false;
    };
    (1..=20).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && (1..=200).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A chat id written as text: an integer, or `@` and a public channel's username.
fn is_chat_name(name: &str) -> bool {
    if let Some(user) = name.strip_prefix('@') {
        return (1..=64).contains(&user.len())
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    name.parse::<i64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_telegram_config_keeps_its_token_apart() {
        let config = parse(
            "telegram",
            &json!({"bot_token": "123456:ABC-def_1", "chat_id": -100123}),
            false,
        )
        .unwrap();
        assert_eq!(config.public, json!({"chat_id": -100123}));
        assert_eq!(config.secret.as_deref(), Some("123456:ABC-def_1"));
    }

    #[test]
    fn a_token_that_could_change_the_request_path_is_refused() {
        for token in [
            "123/../x:y",
            "abc:def",
            "123:a/b",
            "123:",
            ":abc",
            "123:a b",
        ] {
            let refused = parse(
                "telegram",
                &json!({"bot_token": token, "chat_id": 1}),
                false,
            );
            assert!(refused.is_err(), "{token} was accepted");
        }
    }

    #[test]
    fn email_takes_addresses_or_a_role_but_not_both() {
        assert!(parse("email", &json!({"to": ["a@example.com"]}), false).is_ok());
        assert!(parse("email", &json!({"to_role": "assignee"}), false).is_ok());
        assert!(parse(
            "email",
            &json!({"to": ["a@example.com"], "to_role": "agents"}),
            false
        )
        .is_err());
        assert!(parse("email", &json!({"to": ["not an address"]}), false).is_err());
        assert!(parse("email", &json!({"to_role": "boss"}), false).is_err());
    }

    #[test]
    fn a_patch_may_leave_the_secret_out() {
        let config = parse("slack", &json!({}), true).unwrap();
        assert_eq!(config.secret, None);
        assert!(parse("slack", &json!({}), false).is_err());
    }
}
