//! Tags (CONTRACT 10): a ticket carries a set of short lower-case labels; `PUT
//! /tickets/{id}/tags` replaces the set and records only what it added and removed
//! (the rules: `tagging`).

use super::values::ValueError;

/// The longest tag.
pub const TAG_MAX: usize = 40;
/// The most tags a ticket carries.
pub const TAGS_MAX: usize = 20;
/// A tag's shape, as the OpenAPI document and the web app state it.
pub const TAG_PATTERN: &str = "^[a-z0-9_-]{1,40}$";

/// One tag: 1–40 of `a-z`, `0-9`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Checks the shape; nothing is folded to lower case, so that what is stored is what was
    /// sent.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let fits = (1..=TAG_MAX).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if fits {
            Ok(Self(value.to_string()))
        } else {
            Err(ValueError::Shape {
                field: "tags",
                shape: "1–40 characters of a-z, 0-9, _ and -",
            })
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tags_are_short_lower_case_words() {
        for good in ["vip", "a", "printer-3", "needs_info", &"x".repeat(40)] {
            assert!(Tag::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "VIP", "two words", "é", "a/b", "tag\0", &"x".repeat(41)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_tag_parses_exactly_when_it_matches_the_pattern(s in "\\PC{0,45}") {
            let re = regex::Regex::new(TAG_PATTERN).unwrap();
            prop_assert_eq!(Tag::parse(&s).is_ok(), re.is_match(&s));
        }
    }
}
