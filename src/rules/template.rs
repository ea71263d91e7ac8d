//! Rule texts: plain text with named placeholders (CONTRACT 8), nothing more. Substitution is
//! a scan for `{{name}}` over a fixed set of names: no expressions, no lookups, nothing a text
//! can reach beyond the values handed in, so no template language is needed or wanted.

/// The placeholders a text may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "ticket.number",
    "ticket.title",
    "ticket.priority",
    "ticket.url",
    "actor.name",
];

/// The values of the placeholders for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `{{ticket.number}}`: the bare integer.
    pub number: i64,
    /// `{{ticket.title}}`.
    pub title: String,
    /// `{{ticket.priority}}`.
    pub priority: String,
    /// `{{ticket.url}}`: `PUBLIC_URL` + `/#/tickets/<id>`.
    pub url: String,
    /// `{{actor.name}}`: who caused the triggering event.
    pub actor_name: String,
}

impl Facts {
    fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "ticket.number" => self.number.to_string(),
            "ticket.title" => self.title.clone(),
            "ticket.priority" => self.priority.clone(),
            "ticket.url" => self.url.clone(),
            "actor.name" => self.actor_name.clone(),
            _ => return None,
        })
    }
}

/// Refuses a text naming a placeholder that is not one of [`PLACEHOLDERS`].
pub fn check(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Ok(());
        };
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "'{{{{{}}}}}' is not a placeholder; use {}",
                name.escape_debug(),
                PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// `text` with every known placeholder replaced by its value. Values are inserted as they
/// are and never scanned again, so a title holding `{{…}}` stays as written.
pub fn render(text: &str, facts: &Facts) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match facts.value(after[..end].trim()) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn facts(title: &str) -> Facts {
        Facts {
            number: 1042,
            title: title.into(),
            priority: "urgent".into(),
            url: "https://desk.example/#/tickets/x".into(),
            actor_name: "Ana".into(),
        }
    }

    #[test]
    fn every_placeholder_is_replaced_by_its_value() {
        let text = "#{{ticket.number}} {{ ticket.title }} ({{ticket.priority}}) by {{actor.name}}: {{ticket.url}}";
        assert_eq!(
            render(text, &facts("Printer")),
            "#1042 Printer (urgent) by Ana: https://desk.example/#/tickets/x"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_refused() {
        assert!(check("{{ticket.number}}").is_ok());
        assert!(check("{{env.HOME}}").is_err());
        assert!(check("{{ticket.requester.password}}").is_err());
        assert!(check("no placeholders, {{ unclosed").is_ok());
    }

    #[test]
    fn a_value_holding_braces_is_not_expanded_again() {
        assert_eq!(
            render("{{ticket.title}}", &facts("{{ticket.url}}")),
            "{{ticket.url}}"
        );
    }

    proptest! {
        #[test]
        fn text_without_placeholders_is_unchanged(text in "[^{]*") {
            prop_assert_eq!(render(&text, &facts("t")), text);
        }

        #[test]
        fn rendering_never_panics(text in ".*", title in ".*") {
            let _ = render(&text, &facts(&title));
            let _ = check(&text);
        }
    }
}
