//! Policy in one place: what the proxy did with a request ([`Action`]).

use serde::Serialize;

/// What the proxy did with one request. Its text (`Display`, serde) is stable: the `action`
/// of JSON log lines and recordings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sent on unchanged.
    #[default]
    Forwarded,
    /// Re-signed, then sent on.
    Resigned,
    /// Answered by sigtap itself with a 4xx: the service would refuse it.
    Rejected,
    /// Answered by sigtap itself with a 5xx: forwarding failed.
    Failed,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Forwarded,
        Action::Resigned,
        Action::Rejected,
        Action::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::Resigned => "resigned",
            Action::Rejected => "rejected",
            Action::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// A local answer of sigtap's status: rejected (4xx) or failed (5xx).
    pub fn local(status: u16) -> Action {
        if status >= 500 {
            Action::Failed
        } else {
            Action::Rejected
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_print_and_serialize_as_their_stable_text() {
        for (a, text) in [
            (Action::Forwarded, "forwarded"),
            (Action::Resigned, "resigned"),
            (Action::Rejected, "rejected"),
            (Action::Failed, "failed"),
        ] {
            assert_eq!(a.to_string(), text);
            assert_eq!(serde_json::to_value(a).unwrap(), text);
            assert_eq!(Action::parse(text), Some(a));
        }
        assert_eq!(Action::ALL.len(), 4);
        assert_eq!(Action::parse("refused"), None);
        assert_eq!(Action::local(403), Action::Rejected);
        assert_eq!(Action::local(400), Action::Rejected);
        assert_eq!(Action::local(502), Action::Failed);
        assert_eq!(Action::local(504), Action::Failed);
    }
}
