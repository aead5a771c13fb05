//! Function body → [`Critical`]: finds the index read, splits the prelude from the section,
//! and reads each section statement into an [`Op`]. Forms the language does not have become
//! [`Op::Bad`] so that validation reports them all together.
//!
//! The language's names (`load`, `store`, `memcpy`, the commits, `cpu_id`, `mm_cid`) are
//! found wherever they are called in a statement, not only at its top: the section starts at
//! the first statement that calls an operation anywhere, and a call in any other position
//! than the section's own forms is an error on that call. No statement that names the
//! language becomes ordinary Rust.

use crate::ir::{Addr, Bad, CommitKind, Critical, Index, IndexKind, Input, Len, Op, Operand};
use proc_macro2::{Span, TokenStream, TokenTree};
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

/// The index reads, allowed only as the function's first statement.
const INDEX_READS: &[&str] = &["cpu_id", "mm_cid"];

/// The section's statement forms, for messages.
const FORMS: &str = "`let v = load(addr);`, `if A == B { return EXPR; }`, `if A != B { return EXPR; }`, `store(addr, value);`, `memcpy(dst, src, len);` or a commit (`commit(addr, value);`, `commit_release(addr, value);`, `commit_add(addr, value);`)";

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
    if let Some(c) = &item.sig.constness {
        push_err(
            syn::Error::new(
                c.span,
                "#[rseq_critical] functions cannot be `const`: the section is inline assembly on the running thread's rseq area",
            ),
            &mut errors,
        );
    }
    if let Some(a) = &item.sig.asyncness {
        push_err(
            syn::Error::new(
                a.span,
                "#[rseq_critical] functions cannot be `async`: a section must run to its commit on one thread without yielding; call it from async code instead",
            ),
            &mut errors,
        );
    }
    if let syn::ReturnType::Default = item.sig.output {
        push_err(
            syn::Error::new(
                item.sig.paren_token.span.close(),
                "#[rseq_critical] functions return a `Result<T, E>` with `E: From<Unavailable>` (the \"rseq unavailable\" outcome): add e.g. `-> Result<(), Unavailable>`",
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
                    "#[rseq_critical] functions take no `self`: pass a pointer (or a reference) as a named parameter",
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

    // 2. The prelude, up to the first statement that calls an operation of the language
    //    (anywhere in it). The index is read once: another `cpu_id()`/`mm_cid()` is an error.
    let rest: Vec<Stmt> = stmts.collect();
    let start = rest
        .iter()
        .position(|s| {
            mentions(s)
                .iter()
                .any(|m| OPS.contains(&m.to_string().as_str()))
        })
        .unwrap_or(rest.len());
    let mut late_errors = Vec::new();
    for stmt in &rest {
        for m in mentions(stmt) {
            if INDEX_READS.contains(&m.to_string().as_str()) {
                late_errors.push(syn::Error::new(
                    m.span(),
                    format!(
                        "`{m}()` is read once, by the function's first statement: use its binding `{}`",
                        index.name
                    ),
                ));
            }
        }
    }
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
    let mut bad_commit = false;
    for (i, stmt) in tail_section.into_iter().enumerate() {
        if i + 1 == n && seen_commit {
            match &stmt {
                Stmt::Expr(e, None) => {
                    // (An index read there is reported above.)
                    let op = first_mention(e).filter(|m| OPS.contains(&m.to_string().as_str()));
                    if let Some(m) = op {
                        late_errors.push(syn::Error::new(
                            m.span(),
                            format!("`{m}` in the tail expression: the tail is evaluated after the section and uses inputs only"),
                        ));
                    }
                    tail = Some(e.clone());
                    continue;
                }
                Stmt::Expr(Expr::Return(r), Some(_)) => {
                    ops.push(Op::Bad(Bad::Other(
                        r.return_token.span,
                        "the value once committed is the tail expression, after the commit without `return` and `;`: e.g. `Ok(())`".into(),
                    )));
                    continue;
                }
                _ => {}
            }
        }
        let calls_commit = mentions(&stmt)
            .iter()
            .any(|m| m.to_string().starts_with("commit"));
        let op = parse_stmt(stmt);
        let rejected = matches!(op, Op::Bad(_) | Op::BadLet(..));
        bad_commit |= calls_commit && rejected;
        seen_commit |= matches!(op, Op::Commit { .. }) || (calls_commit && rejected);
        ops.push(op);
    }
    let body_end = item.block.brace_token.span.close();
    Ok(Critical {
        item,
        index,
        inputs,
        prelude,
        ops,
        tail,
        body_end,
        errors: late_errors,
        bad_commit,
    })
}

/// The language's names (operations and index reads) called anywhere in `stmt`, in source
/// order: calls `NAME(..)` / `NAME::<..>(..)` of a single-segment path, and the same shape
/// inside macro arguments. Method calls (`x.load(Ordering::Relaxed)`) and nested items are
/// not the language's.
fn mentions(stmt: &Stmt) -> Vec<syn::Ident> {
    let mut f = Mentions(Vec::new());
    syn::visit::Visit::visit_stmt(&mut f, stmt);
    f.0
}

/// The first of the language's names called anywhere in `expr`.
pub(crate) fn first_mention(expr: &Expr) -> Option<syn::Ident> {
    let mut f = Mentions(Vec::new());
    syn::visit::Visit::visit_expr(&mut f, expr);
    f.0.into_iter().next()
}

fn is_language_name(name: &str) -> bool {
    OPS.contains(&name) || INDEX_READS.contains(&name)
}

struct Mentions(Vec<syn::Ident>);

impl Mentions {
    fn tokens(&mut self, tokens: TokenStream) {
        // `NAME(`, where NAME does not follow `.` (a method) or `:` (a path segment).
        let mut prev: Option<syn::Ident> = None;
        let mut after_path_or_dot = false;
        for tt in tokens {
            match tt {
                TokenTree::Group(g) => {
                    if let Some(id) = prev.take() {
                        if g.delimiter() == proc_macro2::Delimiter::Parenthesis {
                            self.0.push(id);
                        }
                    }
                    self.tokens(g.stream());
                    after_path_or_dot = false;
                }
                TokenTree::Ident(id) => {
                    prev = (!after_path_or_dot && is_language_name(&id.to_string())).then_some(id);
                    after_path_or_dot = false;
                }
                TokenTree::Punct(p) => {
                    prev = None;
                    after_path_or_dot = matches!(p.as_char(), '.' | ':');
                }
                TokenTree::Literal(_) => {
                    prev = None;
                    after_path_or_dot = false;
                }
            }
        }
    }
}

impl<'a> syn::visit::Visit<'a> for Mentions {
    fn visit_expr_call(&mut self, c: &'a ExprCall) {
        if let Expr::Path(p) = ungroup(&c.func) {
            if p.qself.is_none() && p.path.leading_colon.is_none() && p.path.segments.len() == 1 {
                let id = &p.path.segments[0].ident;
                if is_language_name(&id.to_string()) {
                    self.0.push(id.clone());
                }
            }
        }
        syn::visit::visit_expr_call(self, c);
    }
    fn visit_macro(&mut self, m: &'a syn::Macro) {
        self.tokens(m.tokens.clone());
    }
    fn visit_item(&mut self, _: &'a syn::Item) {}
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

fn other(span: Span, msg: impl Into<String>) -> Op {
    Op::Bad(Bad::Other(span, msg.into()))
}

/// The error for a statement that calls one of the language's operations (`name`)
/// somewhere other than at the top of one of the section's forms.
fn nested(name: &syn::Ident) -> Op {
    let msg = if name == "load" {
        "`load(..)` inside another expression: bind it on its own, `let v = load(addr);`, then use `v`".to_string()
    } else {
        format!("`{name}(..)` inside another expression: it is a statement of its own; the section's statements are {FORMS}")
    };
    other(name.span(), msg)
}

fn parse_stmt(stmt: Stmt) -> Op {
    // A second index read: already reported (see `parse_fn`).
    if mentions(&stmt)
        .iter()
        .any(|m| INDEX_READS.contains(&m.to_string().as_str()))
    {
        return Op::Bad(Bad::Reported(stmt.span()));
    }
    match stmt {
        Stmt::Local(local) => parse_let(local),
        Stmt::Expr(expr, _) => parse_expr_stmt(expr),
        Stmt::Macro(m) => match mentions(&Stmt::Macro(m.clone())).first() {
            Some(name) => nested(name),
            None => Op::Bad(Bad::Call(
                m.mac.path.span(),
                format!("macro `{}!`", path_text(&m.mac.path)),
            )),
        },
        Stmt::Item(item) => other(
            item.span(),
            "items cannot be declared inside a critical section",
        ),
    }
}

/// `load(..)?` and the like: the operations cannot fail.
fn tried_op(expr: &Expr) -> Option<Op> {
    let Expr::Try(t) = ungroup(expr) else {
        return None;
    };
    let (_, name) = op_call(&t.expr)?;
    let form = if name == "load" {
        "`let v = load(addr);`".to_string()
    } else {
        format!("`{name}(..);`")
    };
    Some(other(
        t.question_token.span,
        format!("`{name}` cannot fail: write {form} without `?` (an abort is handled by the attribute's `on_abort`)"),
    ))
}

fn parse_let(local: Local) -> Op {
    let name = local_name(&local);
    match (parse_let_inner(local), name) {
        (Op::Bad(bad), Some(name)) => Op::BadLet(name, bad),
        (op, _) => op,
    }
}

fn parse_let_inner(local: Local) -> Op {
    let span = local.span();
    if let Some(init) = &local.init {
        if let Some(op) = tried_op(&init.expr) {
            return op;
        }
        if let Some((_, else_branch)) = &init.diverge {
            return other(
                else_branch.span(),
                "a section binding has no `else`: `let v = load(addr);`",
            );
        }
    }
    let Some(name) = local_name(&local) else {
        return other(
            local.pat.span(),
            "a section binds loads to plain names: `let v = load(addr);`",
        );
    };
    let Some(init) = local.init else {
        return other(span, "a section binding needs `= load(addr)`");
    };
    if let Some((call, op)) = op_call(&init.expr) {
        if op == "load" {
            return match call.args.len() {
                1 => Op::Load {
                    name,
                    addr: parse_addr(&call.args[0]),
                },
                _ => other(call.span(), "`load` takes one address: `load(addr)`"),
            };
        }
        return other(
            call.span(),
            format!("`{op}` produces no value: write `{op}(..);` as a statement; only `load` is bound, `let v = load(addr);`"),
        );
    }
    if let Some(m) = first_mention(&init.expr) {
        return nested(&m);
    }
    if let Some(bad) = find_call_or_loop(&init.expr) {
        return Op::Bad(bad);
    }
    other(
        init.expr.span(),
        "a section computes nothing: only `let v = load(addr);` binds a value (compute in the prelude, before the first load)",
    )
}

fn parse_expr_stmt(expr: Expr) -> Op {
    if let Some((call, op)) = op_call(&expr) {
        return parse_op_call(call, &op);
    }
    if let Some(op) = tried_op(&expr) {
        return op;
    }
    match ungroup(&expr) {
        Expr::If(e) => parse_exit(e),
        Expr::Return(r) => other(
            r.return_token.span,
            "`return` inside a critical section: leave it early with `if A == B { return EXPR; }` or `if A != B { return EXPR; }`, or give the value once committed as the tail expression after the commit",
        ),
        _ => {
            if let Some(m) = first_mention(&expr) {
                return nested(&m);
            }
            Op::Bad(find_call_or_loop(&expr).unwrap_or_else(|| {
                Bad::Other(
                    expr.span(),
                    format!("not a critical-section statement: the section's statements are {FORMS}"),
                )
            }))
        }
    }
}

fn parse_op_call(call: &ExprCall, op: &str) -> Op {
    let span = call.span();
    let args: Vec<&Expr> = call.args.iter().collect();
    let want = if op == "memcpy" { 3 } else { 2 };
    if op == "load" {
        return other(span, "bind the loaded value: `let v = load(addr);`");
    }
    if args.len() != want {
        return other(
            span,
            match op {
                "memcpy" => "`memcpy` takes `(dst, src, len)`",
                "store" => "`store` takes `(addr, value)`",
                _ => "a commit takes `(addr, value)`",
            },
        );
    }
    if let Some(m) = args.iter().find_map(|a| first_mention(a)) {
        return nested(&m);
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
                src: Box::new(parse_addr(args[1])),
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

/// `if lhs ==/!= rhs { return value; }`, nothing else; otherwise an error on the first token
/// that departs from that form.
fn parse_exit(e: &syn::ExprIf) -> Op {
    const FORM: &str =
        "an early exit reads `if A == B { return EXPR; }` or `if A != B { return EXPR; }`";
    if let Some((else_token, _)) = &e.else_branch {
        return other(
            else_token.span,
            format!("{FORM}, with no `else`: the section goes on after it"),
        );
    }
    let cond = match ungroup(&e.cond) {
        Expr::Binary(cond) => cond,
        Expr::Paren(p) => match ungroup(&p.expr) {
            Expr::Binary(cond) => cond,
            other_cond => return other(other_cond.span(), format!("{FORM}: compare two operands")),
        },
        other_cond => return other(other_cond.span(), format!("{FORM}: compare two operands")),
    };
    let eq = match cond.op {
        BinOp::Eq(_) => true,
        BinOp::Ne(_) => false,
        op => {
            return other(
                op.span(),
                format!("{FORM}: only `==` and `!=` compare in a section (compute other conditions in the prelude)"),
            )
        }
    };
    if let Some(m) = first_mention(&cond.left).or_else(|| first_mention(&cond.right)) {
        return nested(&m);
    }
    let ret = match e.then_branch.stmts.as_slice() {
        [Stmt::Expr(Expr::Return(r), _)] => r,
        [first, ..] => {
            return other(
                first.span(),
                format!("{FORM}: its body is exactly one `return EXPR;`"),
            )
        }
        [] => {
            return other(
                e.then_branch.brace_token.span.join(),
                format!("{FORM}: its body is exactly one `return EXPR;`"),
            )
        }
    };
    let Some(value) = ret.expr.clone() else {
        return other(
            ret.return_token.span,
            format!("{FORM}: `return` needs the function's value, e.g. `return Ok(false);`"),
        );
    };
    if let Some(m) = first_mention(&value) {
        return other(
            m.span(),
            format!("`{m}` in an exit value: the value is evaluated after the section and uses inputs only"),
        );
    }
    Op::Exit {
        lhs: parse_operand(&cond.left),
        rhs: parse_operand(&cond.right),
        eq,
        value,
        span: e.span(),
    }
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
        }) if matches!(i.suffix(), "" | "usize" | "u64" | "isize" | "i64") => {
            match i.base10_parse::<u64>() {
                Ok(v) => Operand::Lit(v, i.span()),
                Err(_) => Operand::Other(expr.clone()),
            }
        }
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
