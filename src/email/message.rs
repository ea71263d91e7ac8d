//! Reading one inbound mail: MIME with `mail-parser`, HTML to text with `html2text`, and the
//! refusals that need no database: unreadable input, mail loops (CONTRACT 7).

use mail_parser::{MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::domain::values::DESCRIPTION_MAX;
use crate::users::{check_email, check_name};

/// Multipart levels a mail may nest; real mail uses three or four, a deeper one is an attack on
/// the parser (a "zip bomb" of boundaries) rather than a message someone wrote.
pub const MAX_DEPTH: usize = 16;
/// MIME parts a mail may have.
pub const MAX_PARTS: usize = 500;
/// Longest title taken from a subject (the title's own limit).
const TITLE_MAX: usize = 200;
/// Longest Message-ID kept as it is; a longer one is named by its digest.
const MESSAGE_ID_MAX: usize = 200;

/// A mail that can become a ticket or a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Its Message-ID without angle brackets (or `<sha-256>@ticketd.invalid` without one).
    pub message_id: String,
    /// The From address, trimmed.
    pub from: String,
    /// The From display name, or the address's local part.
    pub name: String,
    /// The subject, trimmed (empty without one).
    pub subject: String,
    /// The text part, or the HTML part turned to text; at most 20,000 characters.
    pub body: String,
    /// The message ids it answers: `In-Reply-To`, then `References` newest first.
    pub answers: Vec<String>,
    /// Its attached files, as the mail declares them.
    pub files: Vec<MailFile>,
}

/// A file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFile {
    /// The name the part declares.
    pub filename: Option<String>,
    /// Its media type (`type/subtype`).
    pub content_type: Option<String>,
    /// The decoded content.
    pub content: Vec<u8>,
}

fn files(message: &mail_parser::Message<'_>) -> Vec<MailFile> {
    message
        .attachments()
        .map(|part| MailFile {
            filename: part.attachment_name().map(str::to_string),
            content_type: part.content_type().map(|c| match c.subtype() {
                Some(sub) => format!("{}/{sub}", c.ctype()),
                None => c.ctype().to_string(),
            }),
            content: part.contents().to_vec(),
        })
        .collect()
}

impl Mail {
    /// The title for a new ticket: the subject, or a placeholder when it has none.
    pub fn title(&self) -> String {
        let subject: String = self.subject.chars().take(TITLE_MAX).collect();
        if subject.trim().is_empty() {
            "(no subject)".into()
        } else {
            subject
        }
    }
}

/// What reading a mail gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A mail to apply.
    Mail(Mail),
    /// A mail never ticketed, and why (recorded in `email_inbound`).
    Ignored(Ignored),
}

/// A mail that is recorded but changes no ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Its Message-ID (or digest name).
    pub message_id: String,
    /// The From address, when one could be read.
    pub from: Option<String>,
    /// The subject, when one could be read.
    pub subject: Option<String>,
    /// Why.
    pub reason: String,
}

/// Reads `raw`. `own` are the engine's own addresses (its sender and its inbound addresses):
/// mail from them is a loop.
pub fn read(raw: &[u8], own: &[String]) -> Read {
    let digest_id = || format!("{}@ticketd.invalid", hex::encode(Sha256::digest(raw)));
    let ignored = |message_id: String, from: Option<String>, subject: Option<String>, reason| {
        Read::Ignored(Ignored {
            message_id,
            from,
            subject,
            reason,
        })
    };
    // RFC 6532 allows UTF-8 in headers; other 8-bit bytes have no charset to read them with.
    if std::str::from_utf8(header_section(raw)).is_err() {
        return ignored(
            digest_id(),
            None,
            None,
            "8-bit header bytes that are not UTF-8".into(),
        );
    }
    let Some(message) = MessageParser::default().parse(raw) else {
        return ignored(digest_id(), None, None, "not a MIME message".into());
    };
    let message_id = message
        .message_id()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && id.len() <= MESSAGE_ID_MAX && !id.contains(char::is_control))
        .unwrap_or_else(digest_id);
    let subject = message.subject().map(|s| clean(s).trim().to_string());
    let from = message.from().and_then(|a| a.first());
    let address = from
        .and_then(|a| a.address())
        .and_then(|a| check_email(a).ok());
    let ignore =
        |reason: String| ignored(message_id.clone(), address.clone(), subject.clone(), reason);

    if message.headers().is_empty() || (message.from().is_none() && message.subject().is_none()) {
        return ignore("not a MIME message: no headers".into());
    }
    if let Some(problem) = structure_problem(&message, 1) {
        return ignore(problem);
    }
    let Some(address) = address.clone() else {
        return ignore("no From address".into());
    };
    if let Some(reason) = loop_reason(&message, &address, own) {
        return ignore(reason);
    }
    let name = from
        .and_then(|a| a.name())
        .and_then(|n| check_name(&clean(n)).ok())
        .or_else(|| address.split('@').next().and_then(|l| check_name(l).ok()))
        .unwrap_or_else(|| address.clone());
    let body: String = clean(&body_text(&message))
        .trim()
        .chars()
        .take(DESCRIPTION_MAX)
        .collect();
    let mut answers: Vec<String> = Vec::new();
    for id in text_list(message.in_reply_to())
        .into_iter()
        .chain(text_list(message.references()).into_iter().rev())
    {
        if !answers.contains(&id) {
            answers.push(id);
        }
    }
    Read::Mail(Mail {
        message_id,
        from: address,
        name,
        subject: subject.unwrap_or_default(),
        body,
        answers,
        files: files(&message),
    })
}

/// The bytes before the first empty line.
fn header_section(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// Too deep, too many parts, or a text part in a charset no decoder knows.
/// `depth` is the level the message's root sits at (an attached message counts its own levels
/// on top of the level it is attached at).
fn structure_problem(message: &mail_parser::Message<'_>, depth: usize) -> Option<String> {
    if message.parts.len() > MAX_PARTS {
        return Some(format!("more than {MAX_PARTS} MIME parts"));
    }
    // Iterative within a message; only attached messages recurse, each a level deeper, so the
    // recursion is bounded by MAX_DEPTH too.
    let mut stack = vec![(0_u32, depth)];
    let mut seen = 0_usize;
    while let Some((id, depth)) = stack.pop() {
        seen += 1;
        if depth > MAX_DEPTH {
            return Some(format!("multipart nested deeper than {MAX_DEPTH} levels"));
        }
        if seen > MAX_PARTS {
            return Some(format!("more than {MAX_PARTS} MIME parts"));
        }
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().map(|child| (*child, depth + 1)));
            }
            PartType::Message(inner) => {
                if let Some(problem) = structure_problem(inner, depth + 1) {
                    return Some(problem);
                }
            }
            PartType::Text(_) | PartType::Html(_) => {
                if let Some(charset) = part.content_type().and_then(|c| c.attribute("charset")) {
                    if mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes())
                        .is_none()
                        && !is_utf8_or_ascii(charset)
                    {
                        return Some(format!("unknown charset {}", clean(charset)));
                    }
                }
            }
            PartType::Binary(_) | PartType::InlineBinary(_) => {}
        }
    }
    None
}

fn is_utf8_or_ascii(charset: &str) -> bool {
    matches!(
        charset.to_ascii_lowercase().as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii"
    )
}

/// `Auto-Submitted` other than `no`, `Precedence: bulk|junk|list`, or one of our own addresses.
fn loop_reason(message: &mail_parser::Message<'_>, from: &str, own: &[String]) -> Option<String> {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(value) = header("Auto-Submitted") {
        let keyword = value.split(';').next().unwrap_or("").trim().to_string();
        if keyword != "no" {
            return Some(format!("Auto-Submitted: {keyword}"));
        }
    }
    if let Some(value) = header("Precedence") {
        if matches!(value.as_str(), "bulk" | "junk" | "list") {
            return Some(format!("Precedence: {value}"));
        }
    }
    if own.iter().any(|o| o.eq_ignore_ascii_case(from)) {
        return Some("sent from the engine's own address".into());
    }
    None
}

/// The first text part, else the first HTML part turned to text.
fn body_text(message: &mail_parser::Message<'_>) -> String {
    let part = |id: &u32| message.parts.get(*id as usize).map(|p| &p.body);
    if let Some(text) = message.text_body.iter().find_map(|id| match part(id) {
        Some(PartType::Text(text)) => Some(text.to_string()),
        _ => None,
    }) {
        return text;
    }
    message
        .html_body
        .iter()
        .find_map(|id| match part(id) {
            Some(PartType::Html(html)) => html2text::from_read(html.as_bytes(), 100).ok(),
            _ => None,
        })
        .unwrap_or_default()
}

/// Message ids of a header (`<a@b> <c@d>`), without brackets.
fn text_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .map(|ids| {
            ids.iter()
                .map(|id| id.trim().trim_matches(['<', '>']).to_string())
                .filter(|id| !id.is_empty() && id.len() <= MESSAGE_ID_MAX)
                .collect()
        })
        .unwrap_or_default()
}

/// Without NUL and other control characters except line breaks and tabs, which no stored
/// text may hold.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<String> {
        vec!["support@helpdesk.example".into()]
    }

    fn mail(raw: &str) -> Mail {
        match read(raw.as_bytes(), &own()) {
            Read::Mail(m) => m,
            Read::Ignored(i) => panic!("ignored: {}", i.reason),
        }
    }

    fn reason(raw: &[u8]) -> String {
        match read(raw, &own()) {
            Read::Ignored(i) => i.reason,
            Read::Mail(m) => panic!("read as a mail: {m:?}"),
        }
    }

    const PLAIN: &str = "From: Rita Requester <Rita@Example.com>\r\nTo: support@helpdesk.example\r\nSubject: Printer jammed\r\nMessage-ID: <m1@example.com>\r\n\r\nIt blinks orange.\r\n";

    #[test]
    fn attached_files_are_read_with_their_names_and_types() {
        let m = mail(
            "From: a@b.example\r\nSubject: log\r\nMessage-ID: <f@b>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n\
             Content-Type: application/pdf; name=\"r.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"r.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
        );
        assert_eq!(m.body, "See attached.");
        assert_eq!(
            m.files,
            vec![MailFile {
                filename: Some("r.pdf".into()),
                content_type: Some("application/pdf".into()),
                content: b"%PDF-".to_vec(),
            }]
        );
    }

    #[test]
    fn a_plain_mail_gives_sender_subject_body_and_id() {
        let m = mail(PLAIN);
        assert_eq!(m.message_id, "m1@example.com");
        assert_eq!(m.from, "Rita@Example.com");
        assert_eq!(m.name, "Rita Requester");
        assert_eq!(m.title(), "Printer jammed");
        assert_eq!(m.body, "It blinks orange.");
        assert!(m.answers.is_empty());
    }

    #[test]
    fn replies_list_in_reply_to_then_references_newest_first() {
        let m = mail("From: a@b.example\r\nSubject: Re: x\r\nMessage-ID: <r@b>\r\nIn-Reply-To: <p2@x>\r\nReferences: <p0@x> <p1@x> <p2@x>\r\n\r\nyes\r\n");
        assert_eq!(m.answers, ["p2@x", "p1@x", "p0@x"]);
    }

    #[test]
    fn html_only_mail_is_turned_into_text() {
        let m = mail("From: a@b.example\r\nSubject: html\r\nMessage-ID: <h@b>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello <b>there</b></p><script>x()</script></body></html>\r\n");
        assert!(m.body.contains("Hello"), "{}", m.body);
        assert!(!m.body.contains('<'), "{}", m.body);
    }

    #[test]
    fn a_text_part_is_preferred_to_the_html_part() {
        let m = mail("From: a@b.example\r\nSubject: alt\r\nMessage-ID: <a@b>\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--XX\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--XX--\r\n");
        assert_eq!(m.body, "plain text");
    }

    #[test]
    fn mail_without_message_id_is_named_by_its_digest() {
        let raw = "From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
        let m = mail(raw);
        assert!(m.message_id.ends_with("@ticketd.invalid"));
        assert_eq!(m.message_id, mail(raw).message_id);
    }

    #[test]
    fn automatic_and_bulk_mail_and_our_own_are_loops() {
        let with = |header: &str| {
            format!(
                "From: a@b.example\r\nSubject: x\r\nMessage-ID: <l@b>\r\n{header}\r\n\r\nbody\r\n"
            )
        };
        assert_eq!(
            reason(with("Auto-Submitted: auto-replied").as_bytes()),
            "Auto-Submitted: auto-replied"
        );
        assert_eq!(
            reason(with("Precedence: bulk").as_bytes()),
            "Precedence: bulk"
        );
        assert_eq!(
            reason(with("Precedence: List").as_bytes()),
            "Precedence: list"
        );
        assert!(matches!(
            read(with("Auto-Submitted: no").as_bytes(), &own()),
            Read::Mail(_)
        ));
        assert!(matches!(
            read(with("Precedence: first-class").as_bytes(), &own()),
            Read::Mail(_)
        ));
        let ours = "From: SUPPORT@helpdesk.example\r\nSubject: x\r\n\r\nbody\r\n";
        assert_eq!(
            reason(ours.as_bytes()),
            "sent from the engine's own address"
        );
    }

    #[test]
    fn bad_input_is_ignored_with_a_reason() {
        assert_eq!(
            reason(b"Subject: no sender\r\nMessage-ID: <n@b>\r\n\r\nbody\r\n"),
            "no From address"
        );
        assert_eq!(
            reason(b"From: not an address\r\nSubject: x\r\n\r\nbody\r\n"),
            "no From address"
        );
        assert_eq!(
            reason(b"From: a@b.example\r\nSubject: caf\xe9\r\n\r\nbody\r\n"),
            "8-bit header bytes that are not UTF-8"
        );
        assert_eq!(
            reason(b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=x-klingon-9\r\n\r\nbody\r\n"),
            "unknown charset x-klingon-9"
        );
        assert!(reason(b"\x00\x01\x02 garbage").starts_with("not a MIME message"));
    }

    #[test]
    fn utf8_headers_are_read() {
        let m = mail("From: Jos\u{e9} <jose@b.example>\r\nSubject: caf\u{e9}\r\n\r\nbody\r\n");
        assert_eq!(m.subject, "caf\u{e9}");
        assert_eq!(m.name, "Jos\u{e9}");
    }

    #[test]
    fn deeply_nested_multipart_is_ignored() {
        let mut raw = String::from("From: a@b.example\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n");
        for i in 1..=40 {
            raw.push_str(&format!(
                "--b{}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n",
                i - 1
            ));
        }
        raw.push_str("--b40\r\nContent-Type: text/plain\r\n\r\nbottom\r\n");
        assert_eq!(
            reason(raw.as_bytes()),
            format!("multipart nested deeper than {MAX_DEPTH} levels")
        );
    }

    #[test]
    fn nul_and_control_characters_are_dropped_and_long_bodies_cut() {
        let long = "x".repeat(DESCRIPTION_MAX + 10);
        let m = mail(&format!(
            "From: a@b.example\r\nSubject: a\u{0}b\r\n\r\n{long}\r\n"
        ));
        assert_eq!(m.subject, "ab");
        assert_eq!(m.body.chars().count(), DESCRIPTION_MAX);
    }
}
