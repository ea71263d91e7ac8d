//! Contacts and credentials as the directory checks them: e-mail addresses, phone numbers
//! (E.164), display names and passwords.

use crate::domain::values::{bounded, ValueError};

/// Longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest display name, after trimming.
pub const NAME_MAX: usize = 200;
/// Shortest password.
pub const PASSWORD_MIN: usize = 12;
/// Longest password (hashing cost grows with it).
pub const PASSWORD_MAX: usize = 1024;
/// Longest phone number as typed.
pub const PHONE_MAX: usize = 64;

/// Checks an e-mail address: one `@` with something on both sides, at most 254 characters, no
/// spaces or control characters. Returns it trimmed.
pub fn check_email(email: &str) -> Result<String, ValueError> {
    let email = email.trim();
    if email.chars().count() > EMAIL_MAX {
        return Err(ValueError::TooLong {
            field: "email",
            max: EMAIL_MAX,
        });
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValueError::Holds {
            field: "email",
            what: "spaces or control characters",
        });
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_string())
        }
        _ => Err(ValueError::Shape {
            field: "email",
            shape: "an address with one @ and text on both sides",
        }),
    }
}

/// [`check_email`], then lower case: the form contacts are stored and looked up in.
pub fn normalize_email(email: &str) -> Result<String, ValueError> {
    check_email(email).map(|e| e.to_lowercase())
}

/// Parses a phone number, national numbers in `region` (e.g. `BR`), into E.164
/// (`+5511987654321`). Refuses what is not a valid number of its country.
pub fn normalize_phone(
    phone: &str,
    region: Option<phonenumber::country::Id>,
) -> Result<String, ValueError> {
    let phone = phone.trim();
    bounded("phone", phone, 1, PHONE_MAX)?;
    if phone.chars().any(char::is_control) {
        return Err(ValueError::Holds {
            field: "phone",
            what: "control characters",
        });
    }
    let not_a_number = ValueError::Shape {
        field: "phone",
        shape:
            "a valid phone number of its country (international, or national in the default region)",
    };
    let number = phonenumber::parse(region, phone).map_err(|_| not_a_number.clone())?;
    if !phonenumber::is_valid(&number) {
        return Err(not_a_number);
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Checks a display name: 1–200 characters after trimming, no control characters. Returns it
/// trimmed.
pub fn check_name(name: &str) -> Result<String, ValueError> {
    let name = name.trim();
    bounded("name", name, 1, NAME_MAX)?;
    if name.chars().any(char::is_control) {
        return Err(ValueError::Holds {
            field: "name",
            what: "control characters",
        });
    }
    Ok(name.to_string())
}

/// Checks a new password: 12–1024 characters, and not on the list of common passwords.
pub fn check_password(password: &str) -> Result<(), ValueError> {
    bounded("password", password, PASSWORD_MIN, PASSWORD_MAX)?;
    if crate::auth::common_passwords::is_common(password) {
        return Err(ValueError::Shape {
            field: "password",
            shape: "a password that is not on the list of common passwords",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_with_text_on_both_sides() {
        for ok in [
            "a@b",
            "jane.doe@example.com",
            "  x@y.z  ",
            "Mixed.Case@Example.COM",
        ] {
            assert!(check_email(ok).is_ok(), "{ok} should be accepted");
        }
        assert_eq!(check_email(" a@b ").unwrap(), "a@b");
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "plain", "@b", "a@", "a@b@c", "a b@c", "a@b\0", &long] {
            assert!(check_email(bad).is_err(), "{bad:?} should be refused");
        }
        let exactly = format!("{}@b", "a".repeat(EMAIL_MAX - 2));
        assert!(check_email(&exactly).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Jane Doe ").unwrap(), "Jane Doe");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"é".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"é".repeat(NAME_MAX + 1)).is_err());
        assert!(check_name("nul\0byte").is_err());
    }

    #[test]
    fn passwords_are_12_to_1024_characters_and_not_common() {
        assert!(check_password("12345678901").is_err());
        assert!(check_password("x7-unusual-pw").is_ok());
        assert!(check_password("1qaz2wsx3edc").is_err(), "common");
        assert!(
            check_password("1QAZ2wsx3edc").is_err(),
            "common, in another case"
        );
        assert!(check_password(&"x".repeat(PASSWORD_MAX)).is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }

    #[test]
    fn phones_become_e164_national_ones_in_the_default_region() {
        let br = Some(phonenumber::country::Id::BR);
        assert_eq!(
            normalize_phone("(11) 98765-4321", br).unwrap(),
            "+5511987654321"
        );
        assert_eq!(
            normalize_phone("+55 11 98765 4321", None).unwrap(),
            "+5511987654321"
        );
        assert_eq!(
            normalize_phone("+1 415 555 2671", br).unwrap(),
            "+14155552671"
        );
        for bad in ["", "12", "abc", "+55 11 1", "(11) 98765-4321\u{0}"] {
            assert!(
                normalize_phone(bad, br).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(
            normalize_phone("(11) 98765-4321", None).is_err(),
            "no region: no national numbers"
        );
        assert_eq!(
            normalize_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
    }
}
