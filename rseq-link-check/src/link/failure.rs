//! Why a link fails when the cause is not the watched symbol: inputs that do not exist (and
//! how inputs are recognised: rseq-abi's archive among them). Each
//! missing input is classified (a `-l` library, one of rustc's deleted temporaries, a word
//! that is a program name or an environment assignment, any other file) so that the
//! `link-input-missing` finding carries a hint that fits the cause.

use std::path::Path;

use super::args::{is_assignment, is_program_name};
use super::resolve::{Rejection, RejectionKind};
use crate::diag::{Code, Diagnostic};

/// What kind of input the linker could not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// `-lNAME`: no library of that name in the search directories.
    Library(String),
    /// An object rustc deleted after the link (`*.rcgu.o`, `symbols.o` in its temporary
    /// directory), kept only with `-C save-temps`.
    Temporary(String),
    /// A word that names a program or sets an environment variable, not an input.
    NotAnInput(String),
    /// Any other file named on the line.
    File(String),
}

/// Classifies the input a [`RejectionKind::MissingInput`] rejection names.
pub(crate) fn classify(input: &str) -> Missing {
    if let Some(lib) = input.strip_prefix("-l") {
        return Missing::Library(lib.to_string());
    }
    let base = Path::new(input)
        .file_name()
        .and_then(|b| b.to_str())
        .unwrap_or(input);
    if base.ends_with(".rcgu.o")
        || (base == "symbols.o" && input.contains("rustc"))
        || base.ends_with(".rcgu.rmeta")
    {
        Missing::Temporary(input.to_string())
    } else if is_assignment(input) || (!input.contains('/') && is_program_name(input)) {
        Missing::NotAnInput(input.to_string())
    } else {
        Missing::File(input.to_string())
    }
}

/// The `link-input-missing` findings for the missing-input rejections among `rejections`:
/// one per missing library, file or stray word, and one line for all of rustc's deleted
/// temporaries. `linker` is the display name of the linker whose rules were followed.
pub(crate) fn diagnose(linker: &str, rejections: &[Rejection]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut temporaries = Vec::new();
    for r in rejections
        .iter()
        .filter(|r| r.kind == RejectionKind::MissingInput)
    {
        let (message, hint) = match classify(&r.symbol) {
            Missing::Temporary(path) => {
                temporaries.push(path);
                continue;
            }
            Missing::Library(name) => (
                format!("{linker} refuses the link: {}", r.message),
                format!(
                    "no lib{name}.so or lib{name}.a in the -L directories or the system's: \
                     install it, or name the directory it is in (`cargo:rustc-link-search=native=DIR`, \
                     `Check::search_path`, -L DIR); a build.rs example names a library that exists"
                ),
            ),
            Missing::NotAnInput(word) => (
                format!("{linker} refuses the link: {}", r.message),
                format!(
                    "`{word}` is a program name or an environment assignment, not an input: pass the \
                     arguments after the program name, or the line exactly as `--print=link-args` \
                     prints it to `rseq-link-check predict --`"
                ),
            ),
            Missing::File(path) => (
                format!("{linker} refuses the link: {}", r.message),
                format!("the file `{path}` does not exist: build it first, or correct its path"),
            ),
        };
        let mut d = Diagnostic::new(Code::LinkInputMissing, message);
        d.hint = hint;
        out.push(d);
    }
    if !temporaries.is_empty() {
        let mut d = Diagnostic::new(
            Code::LinkInputMissing,
            format!(
                "{} of rustc's temporary objects no longer exist (rustc deletes them after linking): {}",
                temporaries.len(),
                temporaries.join(", ")
            ),
        );
        d.hint = "keep them by building with `-C save-temps` \
                  (RUSTFLAGS='-C save-temps --print=link-args'), then run predict on the line printed"
            .to_string();
        out.push(d);
    }
    out
}

/// True when `origin` (as the linker names an input) is rseq-abi's archive: the rlib rustc
/// links (`librseq_abi-HASH.rlib`) or the build-script API's stand-in for it.
pub(crate) fn is_rseq_abi_input(origin: &str) -> bool {
    origin.contains("librseq_abi-") || origin.contains("librseq_link_check_own.a")
}

/// The hint of a `link-rejected` finding, by the kind of rejection.
pub(crate) fn rejection_hint(kind: &RejectionKind) -> Option<&'static str> {
    match kind {
        RejectionKind::Undefined => Some(
            "link a definition (rseq-abi with the `legacy-rseq-abi` feature, or the C library \
             that defines it), or drop the reference",
        ),
        RejectionKind::MultipleDefinition => {
            Some("keep one strong definition: make the others weak or remove them")
        }
        RejectionKind::TlsMismatch => {
            Some("declare every definition and reference of a thread-local symbol as thread-local")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_inputs_are_told_apart() {
        assert_eq!(classify("-lfoo"), Missing::Library("foo".into()));
        assert_eq!(
            classify("/t/x/deps/app-1.app.1a2b-cgu.0.rcgu.o"),
            Missing::Temporary("/t/x/deps/app-1.app.1a2b-cgu.0.rcgu.o".into())
        );
        assert_eq!(classify("LC_ALL=C"), Missing::NotAnInput("LC_ALL=C".into()));
        assert_eq!(classify("cc"), Missing::NotAnInput("cc".into()));
        assert_eq!(classify("/x/y.o"), Missing::File("/x/y.o".into()));
        assert!(!is_assignment("-Wl,a=b") && is_assignment("VSLANG=1033"));
    }

    #[test]
    fn each_cause_has_its_own_hint() {
        let missing = |what: &str| Rejection {
            kind: RejectionKind::MissingInput,
            symbol: what.to_string(),
            first: what.to_string(),
            second: None,
            message: format!("cannot find {what}"),
        };
        let d = diagnose(
            "lld",
            &[
                missing("-lfoo"),
                missing("/x/y.o"),
                missing("cc"),
                missing("LC_ALL=C"),
            ],
        );
        assert_eq!(d.len(), 4, "{d:#?}");
        assert!(d.iter().all(|d| d.code == Code::LinkInputMissing));
        assert!(d[0].hint.contains("libfoo.so"), "{d:#?}");
        assert!(
            d[1].hint.contains("/x/y.o") && !d[1].hint.contains("-L"),
            "{d:#?}"
        );
        assert!(d[2].hint.contains("program name"), "{d:#?}");
        assert!(d[3].hint.contains("`LC_ALL=C`"), "{d:#?}");
        let hints: std::collections::BTreeSet<_> = d[..3].iter().map(|d| &d.hint).collect();
        assert_eq!(hints.len(), 3);
    }
}
