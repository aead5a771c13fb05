//! The semantic rules of a critical section. Every violation is a `syn::Error` on the user's
//! tokens, and all of them are reported at once (`syn::Error::combine`):
//!
//! - exactly one commit, and it is the last statement of the section;
//! - no calls (other than the language's operations) and no loops inside the section;
//! - every copy has a bounded length;
//! - `store` and `memcpy` write only memory declared `#[speculative]`;
//! - every operand is an input (parameter, prelude binding, index), a load, or a literal;
//! - values loaded in the section do not escape it (exit values and the tail use inputs only);
//! - the prelude has no `break`/`continue` outside its own loops (it runs inside the retry
//!   loop);
//! - the function has a tail expression after the commit (its value once committed).
//!
//! Which operands are values (words to store, commit, add or compare) and which are
//! addresses is checked by types in the expansion (`__RseqWord`, `__RseqAddr`).

use crate::ir::{Addr, Bad, Critical, Len, Op, Operand};
use crate::parse::{find_call_or_loop, first_mention, operand_span};
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::HashMap;
use syn::spanned::Spanned;
use syn::Expr;

/// What a name in scope designates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Input { speculative: bool },
    Load,
}

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let e = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

/// Checks every rule; `Err` carries all violations.
pub(crate) fn check(c: &Critical) -> syn::Result<()> {
    let mut errors = Errors::default();
    for e in &c.errors {
        match &mut errors.0 {
            Some(all) => all.combine(e.clone()),
            None => errors.0 = Some(e.clone()),
        }
    }
    let mut scope: HashMap<String, Kind> = HashMap::new();
    for input in &c.inputs {
        scope.insert(
            input.name.to_string(),
            Kind::Input {
                speculative: input.speculative,
            },
        );
    }
    for stmt in &c.prelude {
        check_prelude_jumps(stmt, &mut errors);
    }
    let mut commit_seen = false;
    for op in &c.ops {
        let is_commit = matches!(op, Op::Commit { .. });
        if commit_seen {
            let span = op_span(op);
            if let Op::Bad(bad) | Op::BadLet(_, bad) = op {
                report_bad(bad, &mut errors);
            } else if is_commit {
                errors.push(
                    span,
                    "a critical section commits exactly once: this is a second commit",
                );
            } else {
                errors.push(
                    span,
                    "nothing may follow the commit in a critical section: the commit must be its last instruction",
                );
            }
            continue;
        }
        commit_seen |= is_commit;
        match op {
            Op::Load { name, addr } => {
                check_addr(addr, &scope, &mut errors);
                scope.insert(name.to_string(), Kind::Load);
            }
            Op::Exit {
                lhs, rhs, value, ..
            } => {
                check_value(lhs, &scope, &mut errors);
                check_value(rhs, &scope, &mut errors);
                if matches!(lhs, Operand::Lit(..)) && matches!(rhs, Operand::Lit(..)) {
                    errors.push(
                        operand_span(lhs),
                        "an early exit compares a loaded value or an input, not two literals",
                    );
                }
                check_escape(value, &scope, &mut errors);
            }
            Op::Store { addr, value, .. } => {
                check_speculative(addr, "store", &scope, &mut errors);
                check_value(value, &scope, &mut errors);
            }
            Op::Memcpy { dst, src, len, .. } => {
                check_speculative(dst, "memcpy", &scope, &mut errors);
                check_addr(src, &scope, &mut errors);
                match len {
                    Len::Lit(..) => {}
                    Len::Bounded { len, .. } => check_name(len, &scope, &mut errors),
                    // A literal that is not a 64-bit integer: one error, on the literal.
                    Len::Unbounded(len @ Operand::Other(Expr::Lit(_))) => {
                        check_name(len, &scope, &mut errors)
                    }
                    Len::Unbounded(len) => {
                        check_name(len, &scope, &mut errors);
                        errors.push(
                            operand_span(len),
                            "unbounded copy in a critical section: give a literal length or a bound, `memcpy::<MAX>(dst, src, len)`",
                        );
                    }
                }
            }
            Op::Commit { addr, value, .. } => {
                check_addr(addr, &scope, &mut errors);
                check_value(value, &scope, &mut errors);
            }
            Op::Bad(bad) => report_bad(bad, &mut errors),
            Op::BadLet(name, bad) => {
                report_bad(bad, &mut errors);
                scope.insert(name.to_string(), Kind::Load);
            }
        }
    }
    if !commit_seen && !c.bad_commit {
        let span = c.ops.last().map_or(c.item.sig.ident.span(), op_span);
        errors.push(
            span,
            "critical section without a commit: end it with `commit(addr, value)`, `commit_release(addr, value)` or `commit_add(addr, value)`",
        );
    }
    match &c.tail {
        Some(tail) => check_escape(tail, &scope, &mut errors),
        None if matches!(c.ops.last(), Some(Op::Commit { .. })) => errors.push(
            c.body_end,
            "missing the value once committed: write it after the commit as the tail expression, e.g. `Ok(())` (no `;`)",
        ),
        None => {}
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn op_span(op: &Op) -> Span {
    match op {
        Op::Load { name, .. } => name.span(),
        Op::Exit { span, .. }
        | Op::Store { span, .. }
        | Op::Memcpy { span, .. }
        | Op::Commit { span, .. } => *span,
        Op::Bad(bad) | Op::BadLet(_, bad) => match bad {
            Bad::Call(span, _) | Bad::Loop(span) | Bad::Other(span, _) | Bad::Reported(span) => {
                *span
            }
        },
    }
}

fn report_bad(bad: &Bad, errors: &mut Errors) {
    match bad {
        Bad::Call(span, what) => errors.push(
            *span,
            format!(
                "call to {what} inside a critical section: only `load`, `store`, `memcpy` and the commits may be called there (call it in the prelude, before the first load)"
            ),
        ),
        Bad::Loop(span) => errors.push(
            *span,
            "loop inside a critical section: a section is straight-line code (use `memcpy` for bounded copies)",
        ),
        Bad::Other(span, msg) => errors.push(*span, msg),
        Bad::Reported(_) => {}
    }
}

/// A value operand: an input, a load or a literal.
fn check_value(op: &Operand, scope: &HashMap<String, Kind>, errors: &mut Errors) {
    match op {
        Operand::Lit(..) => {}
        _ => check_name(op, scope, errors),
    }
}

/// An operand that must be a name in scope.
fn check_name(op: &Operand, scope: &HashMap<String, Kind>, errors: &mut Errors) {
    match op {
        Operand::Name(n) => {
            if !scope.contains_key(&n.to_string()) {
                errors.push(
                    n.span(),
                    format!("`{n}` is not an input or a load: a section reads only parameters, prelude bindings, its index and values it loaded"),
                );
            }
        }
        Operand::Lit(_, span) => errors.push(*span, "expected a name here, not a literal"),
        Operand::Other(Expr::Lit(l)) => errors.push(
            l.span(),
            "a literal operand is an integer that fits 64 bits, unsuffixed or suffixed `usize`, `u64`, `isize` or `i64`",
        ),
        Operand::Other(e) => match find_call_or_loop(e) {
            Some(Bad::Call(span, _)) if first_mention(e).is_some() => errors.push(
                span,
                "a language operation cannot be an operand: bind a load first, `let v = load(addr);`, and use `v`",
            ),
            Some(bad) => report_bad(&bad, errors),
            None => errors.push(
                e.span(),
                format!(
                    "`{}` is not an input or a load: compute it in the prelude and use the binding",
                    e.to_token_stream()
                ),
            ),
        },
    }
}

fn check_addr(addr: &Addr, scope: &HashMap<String, Kind>, errors: &mut Errors) {
    check_name(&addr.base, scope, errors);
    if let Some(off) = &addr.offset {
        check_value(off, scope, errors);
    }
}

fn check_speculative(addr: &Addr, what: &str, scope: &HashMap<String, Kind>, errors: &mut Errors) {
    check_addr(addr, scope, errors);
    if let Operand::Name(n) = &addr.base {
        match scope.get(&n.to_string()) {
            Some(Kind::Input { speculative: true }) | None => {}
            Some(_) => errors.push(
                n.span(),
                format!("`{what}` to `{n}`, which is not declared speculative: only the commit may write shared memory; mark the parameter or prelude binding `#[speculative]` if nobody reads it before the commit"),
            ),
        }
    }
}

/// A `break` or `continue` in the prelude outside any loop of its own would leave (or
/// restart) the generated retry loop instead of being rejected as outside a loop.
fn check_prelude_jumps(stmt: &syn::Stmt, errors: &mut Errors) {
    use syn::visit::Visit;
    struct Finder<'e> {
        depth: usize,
        errors: &'e mut Errors,
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_expr(&mut self, e: &'a Expr) {
            match e {
                Expr::Loop(_)
                | Expr::While(_)
                | Expr::ForLoop(_)
                | Expr::Closure(_)
                | Expr::Async(_) => {
                    self.depth += 1;
                    syn::visit::visit_expr(self, e);
                    self.depth -= 1;
                }
                Expr::Break(b) if self.depth == 0 && b.label.is_none() => self.errors.push(
                    b.break_token.span,
                    "`break` outside a loop in the prelude of a critical section",
                ),
                Expr::Continue(c) if self.depth == 0 && c.label.is_none() => self.errors.push(
                    c.continue_token.span,
                    "`continue` outside a loop in the prelude of a critical section",
                ),
                _ => syn::visit::visit_expr(self, e),
            }
        }
        fn visit_item(&mut self, _: &'a syn::Item) {}
    }
    Finder { depth: 0, errors }.visit_stmt(stmt);
}

/// Values loaded in the section exist only in registers inside it.
fn check_escape(expr: &Expr, scope: &HashMap<String, Kind>, errors: &mut Errors) {
    use syn::visit::Visit;
    struct Finder<'s> {
        scope: &'s HashMap<String, Kind>,
        found: Vec<syn::Ident>,
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_path(&mut self, p: &'a syn::Path) {
            if let Some(id) = p.get_ident() {
                if self.scope.get(&id.to_string()) == Some(&Kind::Load) {
                    self.found.push(id.clone());
                }
            }
            syn::visit::visit_path(self, p);
        }
    }
    let mut f = Finder {
        scope,
        found: Vec::new(),
    };
    f.visit_expr(expr);
    for id in f.found {
        errors.push(
            id.span(),
            format!("`{id}` was loaded inside the critical section and does not exist after it: `store` it to a `#[speculative]` output to return it"),
        );
    }
}
