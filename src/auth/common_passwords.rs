//! The list of common passwords a new password is checked against: the 30,000 most frequent
//! passwords of zxcvbn's frequency lists (the `zxcvbn` 4.5.0 package on PyPI, MIT licence),
//! one a line in `common-passwords.txt`, compared without case.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("common-passwords.txt");

fn set() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether `password` is on the list (whatever its case).
pub fn is_common(password: &str) -> bool {
    set().contains(&password.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_knows_frequent_passwords_of_every_length_whatever_their_case() {
        assert!(is_common("password"));
        assert!(is_common("PassWord"));
        assert!(is_common("qwertyuiop"));
        assert!(!is_common("correct horse battery staple"));
        assert!(set().len() > 25_000, "{}", set().len());
    }
}
