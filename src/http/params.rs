//! Query strings, read parameter by parameter, so that a 422 names every invalid parameter
//! (unknown ones included), as for bodies (see `body`).

use axum::extract::Query;
use axum::http::Uri;
use ticket_nats::Timestamp;
use uuid::Uuid;

use super::body::NUL_MESSAGE;
use super::error::{ApiError, FieldError, Result};

/// A query string read parameter by parameter, collecting every problem before failing.
pub struct Params {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Params {
    /// Reads the query string; every parameter not in `allowed` is an error, and so is one
    /// holding U+0000 (`%00`) in its name or value (then read as absent).
    pub fn new(uri: &Uri, allowed: &[&str]) -> Result<Self> {
        let Query(mut pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
        let mut errors: Vec<FieldError> = Vec::new();
        pairs.retain(|(name, value)| {
            if !name.contains('\0') && !value.contains('\0') {
                return true;
            }
            let name = name.replace('\0', "\u{FFFD}");
            if !errors.iter().any(|e| e.field == name) {
                errors.push(FieldError::new(name, NUL_MESSAGE));
            }
            false
        });
        for (name, _) in &pairs {
            // An allowed name ending in `.` admits a family (`field.` admits `field.sector`).
            let in_family = allowed
                .iter()
                .any(|a| a.ends_with('.') && name.len() > a.len() && name.starts_with(a));
            if !in_family
                && !allowed.contains(&name.as_str())
                && !errors.iter().any(|e: &FieldError| &e.field == name)
            {
                errors.push(FieldError::new(name, "is not a known parameter"));
            }
        }
        Ok(Self { pairs, errors })
    }

    /// Records a failing parameter.
    pub fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// A parameter given at most once; empty counts as absent.
    pub fn one(&mut self, name: &str) -> Option<String> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string());
        let first = values.next();
        if values.next().is_some() {
            self.fail(name, "must be given at most once");
            return None;
        }
        first.filter(|v| !v.is_empty())
    }

    /// A parameter parsed by `parse`, whose error message is reported as is.
    pub fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.one(name)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.fail(name, message);
                None
            }
        }
    }

    /// Comma-separated values (the parameter may also repeat), each checked by `check`.
    pub fn list(&mut self, name: &str, check: impl Fn(&str) -> Result<(), String>) -> Vec<String> {
        self.list_of(name, |value| check(value).map(|()| value.to_string()))
    }

    /// Like [`Params::list`], each value parsed by `parse`.
    pub fn list_of<T>(&mut self, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Vec<T> {
        let values: Vec<String> = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let mut ok = Vec::with_capacity(values.len());
        for value in values {
            match parse(&value) {
                Ok(parsed) => ok.push(parsed),
                Err(message) => self.fail(name, message),
            }
        }
        ok
    }

    /// A UUID.
    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        self.parsed(name, |v| {
            Uuid::parse_str(v).map_err(|_| format!("{name} must be a UUID"))
        })
    }

    /// An integer within `min..=max`.
    pub fn integer(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        self.parsed(name, |v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    if max == i64::MAX {
                        format!("{name} must be an integer of at least {min}")
                    } else {
                        format!("{name} must be an integer from {min} to {max}")
                    }
                })
        })
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        self.parsed(name, |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{name} must be true or false")),
        })
    }

    /// An RFC 3339 instant.
    pub fn time(&mut self, name: &str) -> Option<Timestamp> {
        self.parsed(name, |v| {
            v.parse::<Timestamp>()
                .map_err(|_| format!("{name} must be an RFC 3339 time, e.g. 2026-11-23T10:15:30Z"))
        })
    }

    /// `min_position`, accepted by every query.
    pub fn min_position(&mut self) -> Option<i64> {
        self.integer("min_position", 0, i64::MAX)
    }

    /// The parameters named `<prefix><suffix>`, each given at most once, as `(suffix, value)`.
    pub fn family(&mut self, prefix: &str) -> Vec<(String, String)> {
        let mut names: Vec<String> = self
            .pairs
            .iter()
            .filter(|(n, _)| n.len() > prefix.len() && n.starts_with(prefix))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| {
                let value = self.one(&name)?;
                Some((name[prefix.len()..].to_string(), value))
            })
            .collect()
    }

    /// Ends reading: `Err` lists every failing parameter.
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_holding_nul_is_named_and_read_as_absent() {
        let uri: Uri = "/x?q=a%00b&limit=5&na%00me=1&q=c".parse().unwrap();
        let mut p = Params::new(&uri, &["q", "limit"]).unwrap();
        assert_eq!(p.one("q").as_deref(), Some("c"));
        assert_eq!(p.integer("limit", 1, 10), Some(5));
        let Err(ApiError::Unprocessable(errors)) = p.finish() else {
            panic!("expected a 422");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["q", "na\u{fffd}me"]);
        assert_eq!(errors[0].message, NUL_MESSAGE);
    }
}
