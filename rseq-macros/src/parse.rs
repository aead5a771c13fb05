//! Function body → [`Critical`]: finds the index read, splits the prelude from the section,
//! and reads each section statement into an [`Op`]. Forms the language does not have become
//! [`Op::Bad`] so that validation reports them all together.

use crate::ir::{Addr, Bad, CommitKind, Critical, Index, IndexKind, Input, Len, Op, Operand};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    BinOp, Expr, ExprCall, ExprLit, FnArg, GenericArgument, ItemFn, Lit, Local, Pat, PathArguments,
    Stmt,
};

const SPECULATIVE: &str = "speculative";

/// The operations of the language, as they are called.
const OPS: &[&str] = &[
    "load",
    "store",
    "memcpy",
    "commit",
    "commit_release",
    "commit_add",
];

/// Parses the annotated function.
pub(crate) fn parse_fn(mut item: ItemFn) -> syn::Result<Critical> {
    let mut inputs = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let push_err = |e: syn::Error, errors: &mut Option<syn::Error>| match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    };
    if item.sig.unsafety.is_none() {
        push_err(
            syn::Error::new(
                item.sig.fn_token.span,
                "#[rseq_critical] needs an `unsafe fn`: the section dereferences raw pointers",
            ),
            &mut errors,
        );
    }
    for arg in &mut item.sig.inputs {
        match arg {
            FnArg::Typed(pat) => {
                let speculative = take_speculative(&mut pat.attrs);
                match &*pat.pat {
                    Pat::Ident(id) => inputs.push(Input {
                        name: id.ident.clone(),
                        speculative,
                    }),
                    other => push_err(
                        syn::Error::new(
                            other.span(),
                            "parameters of a critical section must be plain names",
                        ),
                        &mut errors,
                    ),
                }
            }
            FnArg::Receiver(r) => push_err(
                syn::Error::new(
                    r.span(),
                    "#[rseq_critical] functions take no `self`: pass a pointer",
                ),
                &mut errors,
            ),
        }
    }
    let mut stmts = std::mem::take(&mut item.block.stmts).into_iter();

    // 1. The index read.
    let index = match stmts.next().as_ref().and_then(index_read) {
        Some(index) => Some(index),
        None => {
            push_err(
                syn::Error::new(
                    item.block.brace_token.span.open(),
                    "a critical section starts with its index: `let cpu = cpu_id();` or `let cid = mm_cid();`",
                ),
                &mut errors,
            );
            None
        }
    };
    if let Some(err) = errors {
        return Err(err);
    }
    let index = index.expect("checked above");
    inputs.push(Input {
        name: index.name.clone(),
        speculative: false,
    });

    // 2. The prelude, up to the first statement that uses an operation of the language.
    let rest: Vec<Stmt> = stmts.collect();
    let start = rest.iter().position(is_section_stmt).unwrap_or(rest.len());
    let mut prelude = Vec::with_capacity(start);
    let mut section = rest;
    let tail_section = section.split_off(start);
    for mut stmt in section {
        if let Stmt::Local(local) = &mut stmt {
            let speculative = take_speculative(&mut local.attrs);
            if let Some(name) = local_name(local) {
                inputs.push(Input { name, speculative });
            }
        }
        prelude.push(stmt);
    }

    // 3. The section and the tail.
    let mut ops = Vec::new();
    let mut tail = None;
    let n = tail_section.len();
    let mut seen_commit = false;
    for (i, stmt) in tail_section.into_iter().enumerate() {
        if i + 1 == n && seen_commit {
            if let Stmt::Expr(e, None) = &stmt {
                tail = Some(e.clone());
                continue;
            }
        }
        let op = parse_stmt(stmt);
        seen_commit |= matches!(op, Op::Commit { .. });
        ops.push(op);
    }
    Ok(Critical {
        item,
        index,
        inputs,
        prelude,
        ops,
        tail,
    })
}

/// Removes `#[speculative]` from `attrs`, telling whether it was there.
fn take_speculative(attrs: &mut Vec<syn::Attribute>) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !a.path().is_ident(SPECULATIVE));
    attrs.len() != before
}

fn local_name(local: &Local) -> Option<syn::Ident> {
    match &local.pat {
        Pat::Ident(id) => Some(id.ident.clone()),
        Pat::Type(t) => match &*t.pat {
            Pat::Ident(id) => Some(id.ident.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `let NAME = cpu_id();` / `let NAME = mm_cid();`.
fn index_read(stmt: &Stmt) -> Option<Index> {
    let Stmt::Local(local) = stmt else {
        return None;
    };
    let name = local_name(local)?;
    let init = local.init.as_ref()?;
    let Expr::Call(call) = ungroup(&init.expr) else {
        return None;
    };
    if !call.args.is_empty() {
        return None;
    }
    let kind = match call_name(call)?.as_str() {
        "cpu_id" => IndexKind::CpuId,
        "mm_cid" => IndexKind::MmCid,
        _ => return None,
    };
    Some(Index { kind, name })
}

/// The name of a call to a single-segment path (`load(..)`, `memcpy::<N>(..)`).
fn call_name(call: &ExprCall) -> Option<String> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    if p.qself.is_some() || p.path.segments.len() != 1 || p.path.leading_colon.is_some() {
        return None;
    }
    Some(p.path.segments[0].ident.to_string())
}

fn op_call(expr: &Expr) -> Option<(&ExprCall, String)> {
    let Expr::Call(call) = ungroup(expr) else {
        return None;
    };
    let name = call_name(call)?;
    OPS.contains(&name.as_str()).then_some((call, name))
}

/// Whether the statement starts the section (calls one of the language's operations).
fn is_section_stmt(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Local(local) => local
            .init
            .as_ref()
            .is_some_and(|init| op_call(&init.expr).is_some()),
        Stmt::Expr(e, _) => op_call(e).is_some(),
        _ => false,
    }
}

fn parse_stmt(stmt: Stmt) -> Op {
    match stmt {
        Stmt::Local(local) => parse_let(local),
        Stmt::Expr(expr, _) => parse_expr_stmt(expr),
        Stmt::Macro(m) => Op::Bad(Bad::Call(
            m.mac.path.span(),
            format!("macro `{}!`", path_text(&m.mac.path)),
        )),
        Stmt::Item(item) => Op::Bad(Bad::Other(
            item.span(),
            "items cannot be declared inside a critical section",
        )),
    }
}

fn parse_let(local: Local) -> Op {
    let span = local.span();
    let Some(name) = local_name(&local) else {
        return Op::Bad(Bad::Other(
            local.pat.span(),
            "a section binds loads to plain names: `let v = load(addr);`",
        ));
    };
    let Some(init) = local.init else {
        return Op::Bad(Bad::Other(span, "a section binding needs `= load(addr)`"));
    };
    if let Some((call, op)) = op_call(&init.expr) {
        if op == "load" {
            return match call.args.len() {
                1 => Op::Load {
                    name,
                    addr: parse_addr(&call.args[0]),
                },
                _ => Op::Bad(Bad::Other(
                    call.span(),
                    "`load` takes one address: `load(addr)`",
                )),
            };
        }
        return Op::Bad(Bad::Other(
            call.span(),
            "only `load` produces a value: `let v = load(addr);`",
        ));
    }
    if let Some(bad) = find_call_or_loop(&init.expr) {
        return Op::Bad(bad);
    }
    Op::Bad(Bad::Other(
        init.expr.span(),
        "a section computes nothing: only `let v = load(addr);` binds a value (compute in the prelude, before the first load)",
    ))
}

fn parse_expr_stmt(expr: Expr) -> Op {
    if let Some((call, op)) = op_call(&expr) {
        return parse_op_call(call, &op);
    }
    match &expr {
        Expr::If(e) => parse_exit(e).unwrap_or_else(|| {
            find_call_or_loop(&expr).map_or_else(
                || {
                    Op::Bad(Bad::Other(
                        e.if_token.span,
                        "an early exit reads `if a == b { return VALUE; }` or `if a != b { return VALUE; }`",
                    ))
                },
                Op::Bad,
            )
        }),
        _ => Op::Bad(find_call_or_loop(&expr).unwrap_or_else(|| {
            Bad::Other(
                expr.span(),
                "not a critical-section statement: expected `load`, `store`, `memcpy`, an early exit or a commit",
            )
        })),
    }
}

fn parse_op_call(call: &ExprCall, op: &str) -> Op {
    let span = call.span();
    let args: Vec<&Expr> = call.args.iter().collect();
    let want = if op == "memcpy" { 3 } else { 2 };
    if op == "load" {
        return Op::Bad(Bad::Other(
            span,
            "bind the loaded value: `let v = load(addr);`",
        ));
    }
    if args.len() != want {
        return Op::Bad(Bad::Other(
            span,
            match op {
                "memcpy" => "`memcpy` takes `(dst, src, len)`",
                "store" => "`store` takes `(addr, value)`",
                _ => "a commit takes `(addr, value)`",
            },
        ));
    }
    match op {
        "store" => Op::Store {
            addr: parse_addr(args[0]),
            value: parse_operand(args[1]),
            span,
        },
        "memcpy" => {
            let len = parse_operand(args[2]);
            let max = memcpy_bound(call);
            let len = match (len, max) {
                (Operand::Lit(n, s), _) => Len::Lit(n, s),
                (len, Some(max)) => Len::Bounded {
                    len,
                    max: Box::new(max),
                },
                (len, None) => Len::Unbounded(len),
            };
            Op::Memcpy {
                dst: parse_addr(args[0]),
                src: parse_operand(args[1]),
                len,
                span,
            }
        }
        _ => Op::Commit {
            kind: match op {
                "commit" => CommitKind::Store,
                "commit_release" => CommitKind::Release,
                _ => CommitKind::Add,
            },
            addr: parse_addr(args[0]),
            value: parse_operand(args[1]),
            span,
        },
    }
}

/// `memcpy::<MAX>`: the bound.
fn memcpy_bound(call: &ExprCall) -> Option<Expr> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    let PathArguments::AngleBracketed(args) = &p.path.segments[0].arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Const(e) => Some(e.clone()),
        GenericArgument::Type(syn::Type::Path(t)) => Some(Expr::Path(syn::ExprPath {
            attrs: Vec::new(),
            qself: None,
            path: t.path.clone(),
        })),
        _ => None,
    }
}

/// `if lhs ==/!= rhs { return value; }`, nothing else.
fn parse_exit(e: &syn::ExprIf) -> Option<Op> {
    if e.else_branch.is_some() {
        return None;
    }
    let Expr::Binary(cond) = &*e.cond else {
        return None;
    };
    let eq = match cond.op {
        BinOp::Eq(_) => true,
        BinOp::Ne(_) => false,
        _ => return None,
    };
    let [stmt] = e.then_branch.stmts.as_slice() else {
        return None;
    };
    let ret = match stmt {
        Stmt::Expr(Expr::Return(r), _) => r,
        _ => return None,
    };
    let value = ret.expr.clone()?;
    Some(Op::Exit {
        lhs: parse_operand(&cond.left),
        rhs: parse_operand(&cond.right),
        eq,
        value,
        span: e.span(),
    })
}

fn parse_operand(expr: &Expr) -> Operand {
    match expr {
        Expr::Path(p)
            if p.qself.is_none() && p.path.get_ident().is_some() && p.attrs.is_empty() =>
        {
            Operand::Name(p.path.get_ident().expect("checked").clone())
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<i64>() {
            Ok(v) => Operand::Lit(v, i.span()),
            Err(_) => Operand::Other(expr.clone()),
        },
        Expr::Paren(p) => parse_operand(&p.expr),
        Expr::Group(g) => parse_operand(&g.expr),
        _ => Operand::Other(expr.clone()),
    }
}

/// The expression inside the invisible groups `macro_rules!` wraps around substituted
/// fragments (`$len:literal`, `$p:expr`).
fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(g) = expr {
        expr = &g.expr;
    }
    expr
}

fn parse_addr(expr: &Expr) -> Addr {
    if let Expr::MethodCall(m) = ungroup(expr) {
        if m.method == "byte_add" && m.args.len() == 1 && m.turbofish.is_none() {
            return Addr {
                base: parse_operand(&m.receiver),
                offset: Some(parse_operand(&m.args[0])),
            };
        }
    }
    Addr {
        base: parse_operand(expr),
        offset: None,
    }
}

fn path_text(p: &syn::Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The first call or loop inside `expr`, if any (for the error message).
pub(crate) fn find_call_or_loop(expr: &Expr) -> Option<Bad> {
    use syn::visit::Visit;
    struct Finder(Option<Bad>);
    impl<'a> Visit<'a> for Finder {
        fn visit_expr(&mut self, e: &'a Expr) {
            if self.0.is_some() {
                return;
            }
            match e {
                Expr::Call(c) => {
                    let what = match &*c.func {
                        Expr::Path(p) => format!("function `{}`", path_text(&p.path)),
                        _ => "a function value".to_string(),
                    };
                    self.0 = Some(Bad::Call(c.func.span(), what));
                }
                Expr::MethodCall(m) => {
                    self.0 = Some(Bad::Call(m.method.span(), format!("method `{}`", m.method)));
                }
                Expr::Macro(m) => {
                    self.0 = Some(Bad::Call(
                        m.mac.path.span(),
                        format!("macro `{}!`", path_text(&m.mac.path)),
                    ));
                }
                Expr::Loop(l) => self.0 = Some(Bad::Loop(l.loop_token.span)),
                Expr::While(w) => self.0 = Some(Bad::Loop(w.while_token.span)),
                Expr::ForLoop(f) => self.0 = Some(Bad::Loop(f.for_token.span)),
                _ => syn::visit::visit_expr(self, e),
            }
        }
    }
    let mut f = Finder(None);
    f.visit_expr(expr);
    f.0
}

/// A span for an operand.
pub(crate) fn operand_span(op: &Operand) -> Span {
    match op {
        Operand::Name(n) => n.span(),
        Operand::Lit(_, s) => *s,
        Operand::Other(e) => e.span(),
    }
}
