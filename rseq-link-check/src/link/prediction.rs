//! From a resolution to a prediction: what the output file will contain or reference for the
//! watched symbol, whether it lands in `.dynsym`, what `--gc-sections` drops, where GNU ld
//! and lld part ways, and the build-time diagnostics.

use std::path::PathBuf;

use serde::Serialize;

use super::args::{LinkLine, LinkerFlavor, OutputKind};
use super::gc::section_is_live;
use super::input::{Binding, SymType, Visibility};
use super::resolve::{
    resolve, Candidate, DefSource, NeededLib, Rejection, RejectionKind, Resolution,
};
use super::search::SearchConfig;
use super::version_script::{DynamicList, ScriptVerdict, VersionScript};
use super::LinkError;
use crate::diag::{Code, Diagnostic, Severity};

/// Options of a prediction.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// The symbol to follow (default `__rseq_abi`).
    pub symbol: String,
    /// Library search directories besides `-L`.
    pub search: SearchConfig,
    /// Use these rules instead of the linker the line selects (`-fuse-ld=`).
    pub flavor: Option<LinkerFlavor>,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            symbol: "__rseq_abi".to_string(),
            search: SearchConfig::fallback(),
            flavor: None,
        }
    }
}

/// What the output does with the watched symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeState {
    /// The output contains a definition (from an object or archive member).
    Defined,
    /// The output references a shared library's definition (undefined in `.dynsym`).
    Dynamic,
    /// `--gc-sections` discards the section holding the definition.
    DroppedByGc,
    /// Only weak references, nothing defines it: the address is null at run time.
    UndefinedWeak,
    /// A non-weak reference nothing defines.
    Undefined,
    /// Neither defined nor referenced by anything the link loads.
    Absent,
}

/// The watched symbol in the output of one linker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolOutcome {
    /// What happens to it.
    pub state: OutcomeState,
    /// The input providing the definition (`file` or `archive(member)` or the shared library).
    pub provider: Option<String>,
    /// The definition's `st_size`.
    pub size: Option<u64>,
    /// The definition's binding.
    pub binding: Option<Binding>,
    /// The definition's type.
    #[serde(rename = "type")]
    pub kind: Option<SymType>,
    /// The definition's visibility.
    pub visibility: Option<Visibility>,
    /// Whether the output's `.dynsym` has the symbol: defined, or undefined (`dynamic`, and
    /// `undefined` or `undefined-weak` in a dynamically linked output).
    pub in_dynsym: bool,
    /// Whether the output's `.symtab` has an entry for the symbol when it is `undefined-weak`
    /// (false where GNU ld resolves a weak thread-local reference of an executable to 0).
    pub in_symtab: bool,
    /// Why a definition stays out of `.dynsym`, when it does.
    pub local_reason: Option<String>,
    /// Whether the output's own references are fixed to its own definition at link time
    /// (executables, hidden/protected/local symbols, `-Bsymbolic`): no interposition.
    pub binds_locally: bool,
    /// Objects that reference the symbol.
    pub referenced_by: Vec<String>,
}

/// What the other linker would decide, when it differs.
#[derive(Debug, Clone, Serialize)]
pub struct OtherLinker {
    /// The other linker.
    pub linker: LinkerFlavor,
    /// Its outcome.
    pub outcome: SymbolOutcome,
    /// Its rejections.
    pub rejections: Vec<Rejection>,
}

/// A prediction of the static link.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LinkPrediction {
    /// `-o`.
    pub output: Option<PathBuf>,
    /// What the link produces.
    pub output_kind: OutputKind,
    /// The linker whose rules were applied.
    pub linker: LinkerFlavor,
    /// The watched symbol.
    pub symbol: String,
    /// What the output does with it.
    pub outcome: SymbolOutcome,
    /// Every definition seen on the line (loaded or not).
    pub candidates: Vec<Candidate>,
    /// Shared libraries on the line and whether the output keeps them.
    pub needed: Vec<NeededLib>,
    /// Why the linker would fail (empty when it succeeds).
    pub rejections: Vec<Rejection>,
    /// The other linker's decision, when it differs.
    pub other_linker: Option<OtherLinker>,
    /// Build-time findings.
    pub diagnostics: Vec<Diagnostic>,
}

impl LinkPrediction {
    /// True when a finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Predicts the link of `line`.
pub fn predict(line: &LinkLine, opts: &PredictOptions) -> Result<LinkPrediction, LinkError> {
    let flavor = opts.flavor.unwrap_or(line.flavor);
    let mut scripts = VersionScript::default();
    for p in &line.version_scripts {
        scripts.merge(VersionScript::read(p)?);
    }
    let mut lists = Vec::new();
    for p in &line.dynamic_lists {
        lists.push(DynamicList::read(p)?);
    }
    let ctx = Ctx {
        line,
        scripts: &scripts,
        lists: &lists,
        symbol: &opts.symbol,
    };
    let res = resolve(line, flavor, &opts.search, &opts.symbol)?;
    let outcome = ctx.outcome(&res)?;
    let other = resolve(line, flavor.other(), &opts.search, &opts.symbol)?;
    let other_outcome = ctx.outcome(&other)?;
    let differs = other_outcome.state != outcome.state
        || other_outcome.provider != outcome.provider
        || other_outcome.in_symtab != outcome.in_symtab
        || other.rejections.is_empty() != res.rejections.is_empty();
    let other_linker = differs.then(|| OtherLinker {
        linker: other.flavor,
        outcome: other_outcome,
        rejections: other.rejections.clone(),
    });
    let needed = res
        .shared
        .iter()
        .zip(&res.shared_needed)
        .map(|(s, &n)| NeededLib {
            path: s.path.clone(),
            soname: s.soname.clone(),
            needed: n,
        })
        .collect();
    let mut p = LinkPrediction {
        output: line.output.clone(),
        output_kind: line.output_kind,
        linker: flavor,
        symbol: opts.symbol.clone(),
        outcome,
        candidates: res.candidates.clone(),
        needed,
        rejections: res.rejections.clone(),
        other_linker,
        diagnostics: Vec::new(),
    };
    p.diagnostics = diagnose(&p);
    Ok(p)
}

struct Ctx<'a> {
    line: &'a LinkLine,
    scripts: &'a VersionScript,
    lists: &'a [DynamicList],
    symbol: &'a str,
}

impl Ctx<'_> {
    /// Whether a regular definition of `name` is exported in `.dynsym`, and if not, why.
    fn export(&self, res: &Resolution, name: &str) -> Result<(), String> {
        let Some(st) = res.symbols.get(name) else {
            return Err("not defined".to_string());
        };
        let Some(def) = &st.def else {
            return Err("not defined".to_string());
        };
        if def.visibility.is_hidden() {
            return Err(format!("{} visibility", def.visibility.as_str()));
        }
        match self.line.output_kind {
            OutputKind::Static | OutputKind::StaticPie | OutputKind::Relocatable => {
                Err("a static link has no .dynsym".to_string())
            }
            OutputKind::Shared => match self.scripts.verdict(name) {
                ScriptVerdict::Local(p) => Err(format!(
                    "the version script's `local: {};` pattern makes it local",
                    p.pattern
                )),
                _ => Ok(()),
            },
            OutputKind::Executable | OutputKind::Pie => {
                if self.line.export_dynamic
                    || self.lists.iter().any(|l| l.contains(name))
                    || self
                        .line
                        .export_dynamic_symbols
                        .iter()
                        .any(|p| super::version_script::glob_match(p, name))
                    || st.ref_dynamic
                    || st.def_dynamic
                {
                    Ok(())
                } else {
                    Err(
                        "an executable exports a definition only with --export-dynamic, \
                         --dynamic-list, or when a shared library on the line references or \
                         defines it"
                            .to_string(),
                    )
                }
            }
        }
    }

    fn outcome(&self, res: &Resolution) -> Result<SymbolOutcome, LinkError> {
        let name = self.symbol;
        let st = res.symbols.get(name).cloned().unwrap_or_default();
        let referenced = st.ref_strong || st.ref_weak;
        let mut o = SymbolOutcome {
            state: OutcomeState::Absent,
            provider: None,
            size: None,
            binding: None,
            kind: None,
            visibility: None,
            in_dynsym: false,
            in_symtab: true,
            local_reason: None,
            binds_locally: false,
            referenced_by: st.referenced_by.clone(),
        };
        let Some(def) = &st.def else {
            o.state = if st.ref_strong {
                // A shared library (or an executable linked with undefined symbols allowed)
                // keeps the undefined entry in .dynsym for the loader to resolve.
                o.in_dynsym = self.line.output_kind.is_dynamic();
                OutcomeState::Undefined
            } else if st.ref_weak {
                // GNU ld resolves a weak undefined thread-local reference of an executable
                // to 0 at link time and writes no entry in either symbol table; lld keeps an
                // undefined weak entry in .dynsym.
                let resolved_at_link_time = res.flavor == LinkerFlavor::GnuLd
                    && self.line.output_kind.is_executable()
                    && st.ref_tls.is_some();
                o.in_dynsym = self.line.output_kind.is_dynamic() && !resolved_at_link_time;
                o.in_symtab = !resolved_at_link_time;
                OutcomeState::UndefinedWeak
            } else {
                OutcomeState::Absent
            };
            return Ok(o);
        };
        o.provider = Some(def.origin.clone());
        o.size = Some(def.size);
        o.binding = Some(def.binding);
        o.kind = Some(def.kind);
        o.visibility = Some(def.visibility);
        match def.source {
            DefSource::Shared(_) => {
                if referenced {
                    o.in_dynsym = true;
                    o.state = OutcomeState::Dynamic;
                } else {
                    // Defined by a library but used by nothing in the output.
                    o.state = OutcomeState::Absent;
                    o.provider = None;
                    o.size = None;
                    o.binding = None;
                    o.kind = None;
                    o.visibility = None;
                }
            }
            DefSource::Object(obj) => {
                o.state = OutcomeState::Defined;
                let export = self.export(res, name);
                o.in_dynsym = export.is_ok();
                o.local_reason = export.err();
                o.binds_locally = !self.line.output_kind.is_dynamic()
                    || self.line.output_kind != OutputKind::Shared
                    || !o.in_dynsym
                    || def.visibility == Visibility::Protected
                    || self.line.binds_symbolically(def.kind == SymType::Func);
                if self.line.gc_sections && self.line.output_kind != OutputKind::Relocatable {
                    if let Some(sec) = def.section {
                        let mut roots: Vec<String> = res
                            .symbols
                            .iter()
                            .filter(|(n, s)| {
                                s.def.as_ref().is_some_and(|d| d.is_regular())
                                    && self.export(res, n).is_ok()
                            })
                            .map(|(n, _)| n.clone())
                            .collect();
                        roots.extend(self.line.undefined.iter().cloned());
                        if let Some(e) = &self.line.entry {
                            roots.push(e.clone());
                        }
                        if self.line.output_kind.is_executable() && !self.line.no_start_files {
                            roots.push("main".to_string());
                        }
                        if !section_is_live(res, (obj, sec), &roots)? {
                            o.state = OutcomeState::DroppedByGc;
                            o.in_dynsym = false;
                            o.binds_locally = false;
                        }
                    }
                }
            }
        }
        Ok(o)
    }
}

fn describe(c: &Candidate) -> String {
    format!(
        "{} ({} bytes, {} {})",
        c.origin,
        c.size,
        c.binding.as_str(),
        c.kind.as_str()
    )
}

/// The build-time findings of a prediction.
fn diagnose(p: &LinkPrediction) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let sym = &p.symbol;
    let o = &p.outcome;
    for r in p
        .rejections
        .iter()
        .filter(|r| r.kind != RejectionKind::MissingInput)
    {
        let mut d = Diagnostic::new(
            Code::LinkRejected,
            format!(
                "{} refuses the link: {}",
                p.linker.display_name(),
                r.message
            ),
        );
        if let Some(hint) = super::failure::rejection_hint(&r.kind) {
            d.hint = hint.to_string();
        }
        out.push(d);
    }
    out.extend(super::failure::diagnose(
        p.linker.display_name(),
        &p.rejections,
    ));
    if let Some(other) = &p.other_linker {
        let what = |o: &SymbolOutcome, rej: bool| -> String {
            if rej {
                return "fails the link".to_string();
            }
            match (&o.state, &o.provider) {
                (OutcomeState::UndefinedWeak, _) if !o.in_symtab => {
                    "resolves the weak reference to 0 at link time (no symbol table entry)"
                        .to_string()
                }
                (OutcomeState::UndefinedWeak, _) if o.in_dynsym => {
                    "leaves it undefined (weak) in .dynsym".to_string()
                }
                (s, Some(pr)) => format!("{} {pr}", state_verb(*s)),
                (s, None) => state_verb(*s).to_string(),
            }
        };
        out.push(Diagnostic::new(
            Code::LinkersDisagree,
            format!(
                "{sym}: {} {} but {} {}",
                p.linker.display_name(),
                what(o, !p.rejections.is_empty()),
                other.linker.display_name(),
                what(&other.outcome, !other.rejections.is_empty()),
            ),
        ));
    }
    if o.state == OutcomeState::Defined && p.output_kind == OutputKind::Shared && !o.in_dynsym {
        if let Some(reason) = o
            .local_reason
            .as_deref()
            .filter(|r| r.contains("version script"))
        {
            let used = if o.referenced_by.is_empty() {
                "nothing in it references it yet, but it is not interposable".to_string()
            } else {
                format!(
                    "its code ({}) uses this private copy",
                    o.referenced_by.join(", ")
                )
            };
            out.push(Diagnostic::new(
                Code::VersionScriptLocal,
                format!(
                    "{}: {sym} from {} ({} bytes) is not exported: {reason}; {used}, while the \
                     rest of the process binds to another definition",
                    p.output
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    o.provider.as_deref().unwrap_or("?"),
                    o.size.unwrap_or(0),
                ),
            ));
        }
    }
    if let (Some(size), Some(provider)) = (o.size, &o.provider) {
        if sym == "__rseq_abi"
            && size < 32
            && o.kind == Some(SymType::Tls)
            && o.state != OutcomeState::DroppedByGc
        {
            out.push(Diagnostic::new(
                Code::TooSmallToRegister,
                format!(
                    "{sym} resolves to {provider} ({size} bytes), smaller than the 32 bytes of \
                     struct rseq the kernel registers"
                ),
            ));
        }
    }
    if o.state == OutcomeState::DroppedByGc {
        out.push(Diagnostic::new(
            Code::GcDropsDefinition,
            format!(
                "--gc-sections drops the definition of {sym} from {} ({} bytes): nothing in {} \
                 reaches it, so the output neither contains nor exports it",
                o.provider.as_deref().unwrap_or("?"),
                o.size.unwrap_or(0),
                p.output
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the output".into()),
            ),
        ));
    }
    // Definitions that meet in this link with different sizes (loaded objects and the shared
    // libraries on the line). GNU ld prints nothing for weak or TLS symbols.
    let met: Vec<&Candidate> = p.candidates.iter().filter(|c| c.loaded).collect();
    if let (Some(size), Some(provider)) = (o.size, &o.provider) {
        let others: Vec<&&Candidate> = met
            .iter()
            .filter(|c| &c.origin != provider && c.size != size)
            .collect();
        if !others.is_empty() {
            let winner_smaller = others.iter().any(|c| c.size > size);
            let mut d = Diagnostic::new(
                Code::LinkSizeMismatch,
                format!(
                    "{sym}: the link resolves to {provider} ({size} bytes) while {} also \
                     define{} it; the linker says nothing about the size difference",
                    others
                        .iter()
                        .map(|c| describe(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if others.len() == 1 { "s" } else { "" },
                ),
            );
            if winner_smaller {
                d.severity = Severity::Error;
                d.message.push_str(&format!(
                    "; code built for the larger definition reads and writes past the {size} \
                     bytes of the winner"
                ));
            }
            out.push(d);
        }
        // rseq-abi's weak legacy definition, left in its archive because another definition
        // came first: rseq-abi's code was still built for its size.
        if sym == "__rseq_abi" {
            for c in p.candidates.iter().filter(|c| {
                !c.loaded
                    && c.size != size
                    && &c.origin != provider
                    && super::failure::is_rseq_abi_input(&c.origin)
            }) {
                let mut d = Diagnostic::new(
                    Code::LinkSizeMismatch,
                    format!(
                        "{sym}: rseq-abi's code was built for {} bytes (its weak legacy \
                         definition in {}), and now gets {size} bytes: {provider}'s \
                         definition replaces it",
                        c.size, c.origin
                    ),
                );
                if size < c.size {
                    d.severity = Severity::Error;
                }
                out.push(d);
            }
        }
    }
    if matches!(o.state, OutcomeState::Defined | OutcomeState::Dynamic)
        && sym == "__rseq_abi"
        && o.kind.is_some_and(|k| k != SymType::Tls)
        && p.rejections.is_empty()
    {
        out.push(Diagnostic::new(
            Code::NonTlsDefinition,
            format!(
                "{sym} from {} is a {} symbol, not thread-local",
                o.provider.as_deref().unwrap_or("?"),
                o.kind.map(SymType::as_str).unwrap_or("?")
            ),
        ));
    }
    out
}

fn state_verb(s: OutcomeState) -> &'static str {
    match s {
        OutcomeState::Defined => "takes the definition from",
        OutcomeState::Dynamic => "references the definition in",
        OutcomeState::DroppedByGc => "drops (gc) the definition from",
        OutcomeState::UndefinedWeak => "leaves it undefined (weak)",
        OutcomeState::Undefined => "leaves it undefined",
        OutcomeState::Absent => "does not use it",
    }
}
