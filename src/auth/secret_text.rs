//! [`Password`]: a password on its way to a server, which never prints.

use serde::{Deserialize, Serialize};

/// A clear password as a client sends it (in an `Auth` request). On the wire it is a plain
/// string; `Debug` prints `"***"`, so a logged request never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Password(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_prints() {
        let p = super::Password::from("hunter2");
        assert_eq!(format!("{p:?}"), "\"***\"");
    }
}
