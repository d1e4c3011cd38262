//! What a log is for: logs are split by purpose, as Certificate
//! Transparency splits its logs, so custody traffic never lengthens the
//! log endpoints read for their rules.

use std::fmt;
use std::str::FromStr;

use vitrine_statements::StatementType;

/// Which statement types a log takes at all, whoever signs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The rules log: `rules`, `release`, `review` — what endpoints read.
    Rules,
    /// The custody log: `receipt`, `access`, `deletion` — what the intake
    /// and the vault write, one or more per submitted sample.
    Custody,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 2] = [Purpose::Rules, Purpose::Custody];

    /// The statement types a log of this purpose takes.
    pub fn types(self) -> &'static [StatementType] {
        match self {
            Purpose::Rules => &[
                StatementType::Rules,
                StatementType::Release,
                StatementType::Review,
            ],
            Purpose::Custody => &[
                StatementType::Receipt,
                StatementType::Access,
                StatementType::Deletion,
            ],
        }
    }

    /// Whether a log of this purpose takes `kind`.
    pub fn accepts(self, kind: StatementType) -> bool {
        self.types().contains(&kind)
    }

    /// The log for `kind`.
    pub fn of(kind: StatementType) -> Purpose {
        if Purpose::Rules.accepts(kind) {
            Purpose::Rules
        } else {
            Purpose::Custody
        }
    }

    /// `rules` or `custody`.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Rules => "rules",
            Purpose::Custody => "custody",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Not `rules` or `custody`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log purpose (expected `rules` or `custody`)")]
pub struct UnknownPurpose;

impl FromStr for Purpose {
    type Err = UnknownPurpose;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or(UnknownPurpose)
    }
}
