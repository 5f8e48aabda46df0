//! The CLI's side of the per-capture total (issue 13): a `tl checkpoint` that
//! would add more than `max_batch_bytes` asks on a terminal (y/N), goes on with a
//! warning under `--yes`, and is refused when nobody can be asked (stdin is not a
//! terminal): the error says how to proceed. The daemon never asks: its captures
//! go on, and it logs [`over_limit_warning`].

use std::io::IsTerminal;

use tl_index::store::{BatchDecision, BatchPolicy, OverLimit};

/// How a capture over the limit is consented to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Consent {
    /// `--yes`: given in advance.
    Given,
    /// Stdin is a terminal: ask.
    Ask,
    /// Nobody to ask: refused.
    Refused,
}

/// The policy of `tl checkpoint`.
pub struct Confirm<'a> {
    consent: Consent,
    /// The progress bar to hide while asking.
    bar: Option<&'a indicatif::ProgressBar>,
}

/// What `tl checkpoint --yes` says it does.
pub struct Yes;

impl<'a> Confirm<'a> {
    /// Consent given by `--yes` (`yes` is `Some(Yes)`), else asked on a terminal,
    /// else refused.
    pub fn new(yes: Option<Yes>, bar: Option<&'a indicatif::ProgressBar>) -> Confirm<'a> {
        let consent = match yes {
            Some(Yes) => Consent::Given,
            None if std::io::stdin().is_terminal() => Consent::Ask,
            None => Consent::Refused,
        };
        Confirm { consent, bar }
    }
}

impl BatchPolicy for Confirm<'_> {
    fn over_limit(&self, over: &OverLimit) -> BatchDecision {
        match self.consent {
            Consent::Given => {
                eprintln!("tl: warning: this capture adds {over}; capturing it (--yes)");
                BatchDecision::Proceed
            }
            Consent::Refused => BatchDecision::Refuse,
            Consent::Ask => {
                let ask = || {
                    eprintln!("tl: this capture would add {over}.");
                    crate::out::stderr(format_args!("Capture it anyway? [y/N] "));
                    let mut answer = String::new();
                    // No answer (end of input, an error) is no.
                    let _ = std::io::stdin().read_line(&mut answer);
                    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
                };
                let yes = match self.bar {
                    Some(bar) => bar.suspend(ask),
                    None => ask(),
                };
                if yes {
                    BatchDecision::Proceed
                } else {
                    BatchDecision::Refuse
                }
            }
        }
    }
}

/// The daemon's warning for a capture it let through over the limit.
pub fn over_limit_warning(over: &OverLimit) -> String {
    format!(
        "this capture added {over}; captured anyway (add what should not be kept to \
         .tlignore, or raise max_batch_bytes in .tl/config.toml)"
    )
}

/// What to do about a refused capture (the error's hint).
pub const REFUSED_HINT: &str = "run `tl checkpoint --yes` to capture it anyway, raise \
     max_batch_bytes in .tl/config.toml, or add what should not be kept to .tlignore";
