//! Instruction counts of the fast paths, next to the wall-clock figures of `percpu`.
//!
//! Two methods, both on the release build of the `fastpath` binary (one `#[inline(never)]`
//! function `op_CASE` per operation):
//!
//! 1. **callgrind**: `valgrind --tool=callgrind fastpath CASE N` for two values of N; the
//!    difference of the instruction totals divided by the difference of N is the count per
//!    operation, with start-up and set-up cancelled out. Valgrind does not implement the
//!    rseq system call (it returns ENOSYS), so under it glibc's registration and ours are
//!    refused and the per-CPU cases run their *fallback* path: the binary says which path
//!    it took, and the table shows it.
//! 2. **disassembly**: the fast path of `op_CASE` read statically from the binary: the
//!    shortest path through the function's control-flow graph (iced-x86) that enters every
//!    critical section found in the function (the `__rseq_cs` descriptors, read by
//!    `rseq_link_check::verify`) at its `start_ip` and leaves it at its commit, then returns.
//!    Direct calls on that path add their callee's shortest entry-to-return path. For the
//!    per-CPU cases this is the count callgrind cannot give here; for the others it is a
//!    lower bound (the uncontended path, as for the per-CPU ones). A loop inside a section
//!    (the byte copy of the memcpy ring) is counted once and flagged `+ copy loops`.
//!
//! The per-CPU counter's path is printed instruction by instruction, for comparison with
//! librseq's `rseq_load_add_store__ptr` fast path.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use rseq_bench::fastpath::CASES;
use rseq_bench::results::save;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// A function of the binary, from its symbol table.
#[derive(Debug, Clone)]
struct Func {
    name: String,
    addr: u64,
    size: u64,
}

/// The code of the binary: functions and their decoded instructions.
struct Code {
    funcs: Vec<Func>,
    /// Executable bytes by section: (address, bytes).
    text: Vec<(u64, Vec<u8>)>,
    /// Every critical section of the binary.
    sections: Vec<Section>,
    /// Fast-path cost of callees and the sections on it, memoised (`None` while being
    /// computed or when no return is reachable).
    callee_cost: HashMap<u64, Option<(u64, usize, bool)>>,
}

/// A critical section: `[start, commit)` (the commit address is `post_commit_ip`).
#[derive(Debug, Clone, Copy)]
struct Section {
    start: u64,
    post_commit: u64,
}

/// Where a path search ends.
#[derive(Debug, Clone, Copy)]
enum Goal {
    /// Just before executing the instruction at this address.
    At(u64),
    /// After executing a return.
    Return,
}

impl Code {
    fn load(path: &Path, sections: Vec<Section>) -> Self {
        let data = std::fs::read(path).expect("read the fastpath binary");
        let file = object::File::parse(&*data).expect("parse the fastpath binary");
        let mut funcs: Vec<Func> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .filter_map(|s| {
                Some(Func {
                    name: s.name().ok()?.to_string(),
                    addr: s.address(),
                    size: s.size(),
                })
            })
            .collect();
        funcs.sort_by_key(|f| f.addr);
        let text = file
            .sections()
            .filter(|s| s.kind() == object::SectionKind::Text)
            .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
            .collect();
        Code {
            funcs,
            text,
            sections,
            callee_cost: HashMap::new(),
        }
    }

    /// The function whose (mangled) name contains `needle`: Rust's mangling keeps path
    /// segments readable (`_ZN8fastpath17op_x17h…E`).
    fn find(&self, needle: &str) -> Option<Func> {
        self.funcs.iter().find(|f| f.name.contains(needle)).cloned()
    }

    fn func_at(&self, addr: u64) -> Option<Func> {
        self.funcs.iter().find(|f| f.addr == addr).cloned()
    }

    fn decode(&self, f: &Func) -> Vec<Instruction> {
        let Some((base, bytes)) = self
            .text
            .iter()
            .find(|(a, b)| f.addr >= *a && f.addr + f.size <= a + b.len() as u64)
        else {
            return Vec::new();
        };
        let off = (f.addr - base) as usize;
        let code = &bytes[off..off + f.size as usize];
        Decoder::with_ip(64, code, f.addr, DecoderOptions::NONE)
            .into_iter()
            .collect()
    }

    /// Cost of executing `insn` itself: 1, plus the callee's fast path for a direct call
    /// to a known function.
    fn cost(&mut self, insn: &Instruction, depth: u32) -> u64 {
        if insn.flow_control() == FlowControl::Call {
            let target = insn.near_branch_target();
            return 1 + self.callee(target, depth + 1).map_or(0, |(c, _, _)| c);
        }
        1
    }

    /// The fast path of the function at `addr` (through its own critical sections): its
    /// cost and the sections on it.
    fn callee(&mut self, addr: u64, depth: u32) -> Option<(u64, usize, bool)> {
        if depth > 4 {
            return None;
        }
        if let Some(c) = self.callee_cost.get(&addr) {
            return *c;
        }
        self.callee_cost.insert(addr, None);
        let f = self.func_at(addr)?;
        let cost = self.fast_path(&f, depth).map(|(c, _, n, l)| (c, n, l));
        self.callee_cost.insert(addr, cost);
        cost
    }

    /// The critical sections whose start lies in `f`.
    fn sections_in(&self, f: &Func) -> Vec<Section> {
        self.sections
            .iter()
            .copied()
            .filter(|s| s.start >= f.addr && s.start < f.addr + f.size)
            .collect()
    }

    /// The cheapest path inside one function from `from` to `goal`: its cost and the
    /// addresses of the instructions executed.
    fn shortest(
        &mut self,
        insns: &[Instruction],
        from: u64,
        goal: Goal,
        depth: u32,
    ) -> Option<(u64, Vec<u64>)> {
        let index: BTreeMap<u64, usize> =
            insns.iter().enumerate().map(|(i, x)| (x.ip(), i)).collect();
        let start = *index.get(&from)?;
        let mut dist = vec![u64::MAX; insns.len()];
        let mut prev = vec![usize::MAX; insns.len()];
        let mut heap = BinaryHeap::new();
        dist[start] = 0;
        heap.push(Reverse((0u64, start)));
        let mut best: Option<(u64, usize)> = None;
        while let Some(Reverse((d, i))) = heap.pop() {
            if d > dist[i] || best.is_some_and(|(b, _)| d >= b) {
                continue;
            }
            let insn = insns[i];
            if let Goal::At(a) = goal {
                if insn.ip() == a {
                    best = Some((d, i));
                    continue;
                }
            }
            let c = self.cost(&insn, depth);
            let next_ip = insn.next_ip();
            let mut succ = Vec::new();
            match insn.flow_control() {
                FlowControl::Next
                | FlowControl::Call
                | FlowControl::IndirectCall
                | FlowControl::XbeginXabortXend => succ.push(next_ip),
                FlowControl::ConditionalBranch => {
                    succ.push(next_ip);
                    succ.push(insn.near_branch_target());
                }
                FlowControl::UnconditionalBranch => {
                    let t = insn.near_branch_target();
                    if index.contains_key(&t) {
                        succ.push(t);
                    } else if matches!(goal, Goal::Return) {
                        // A tail call: the callee's path to its return ends this one.
                        let tail = self.callee(t, depth + 1).map_or(0, |(c, _, _)| c);
                        let total = d + c + tail;
                        if best.is_none_or(|(b, _)| total < b) {
                            best = Some((total, i));
                        }
                    }
                }
                FlowControl::Return => {
                    if matches!(goal, Goal::Return) && best.is_none_or(|(b, _)| d + c < b) {
                        best = Some((d + c, i));
                    }
                }
                FlowControl::IndirectBranch | FlowControl::Interrupt | FlowControl::Exception => {}
            }
            for t in succ {
                if let Some(&j) = index.get(&t) {
                    if d + c < dist[j] {
                        dist[j] = d + c;
                        prev[j] = i;
                        heap.push(Reverse((d + c, j)));
                    }
                }
            }
        }
        let (cost, end) = best?;
        let mut path = Vec::new();
        let mut i = end;
        loop {
            path.push(insns[i].ip());
            if i == start {
                break;
            }
            i = prev[i];
            if i == usize::MAX {
                break;
            }
        }
        path.reverse();
        if let Goal::At(_) = goal {
            path.pop();
        }
        Some((cost, path))
    }

    /// The fast path of `f` through its critical sections (in the cheapest order): its
    /// cost, the addresses on it in `f`, and the number of sections on it (callees' too).
    fn fast_path(&mut self, f: &Func, depth: u32) -> Option<(u64, Vec<u64>, usize, bool)> {
        let insns = self.decode(f);
        let sections = self.sections_in(f);
        let mut best: Option<(u64, Vec<u64>)> = None;
        for order in permutations(&sections) {
            let mut at = f.addr;
            let mut total = 0;
            let mut path = Vec::new();
            let mut ok = true;
            for s in &order {
                let Some((c, p)) = self.shortest(&insns, at, Goal::At(s.start), depth) else {
                    ok = false;
                    break;
                };
                total += c;
                path.extend(p);
                // Inside the section every instruction up to the commit runs.
                for insn in insns
                    .iter()
                    .filter(|x| x.ip() >= s.start && x.ip() < s.post_commit)
                {
                    total += 1;
                    path.push(insn.ip());
                }
                at = s.post_commit;
            }
            if !ok {
                continue;
            }
            let Some((c, p)) = self.shortest(&insns, at, Goal::Return, depth) else {
                continue;
            };
            total += c;
            path.extend(p);
            if best.as_ref().is_none_or(|(b, _)| total < *b) {
                best = Some((total, path));
            }
        }
        let (cost, path) = best?;
        // Sections entered in callees on the path.
        let mut nested = 0;
        // A backward branch inside a section is a loop (a copy): counted once above.
        let mut loops = sections.iter().any(|s| {
            insns.iter().any(|x| {
                x.ip() >= s.start
                    && x.ip() < s.post_commit
                    && x.flow_control() == FlowControl::ConditionalBranch
                    && x.near_branch_target() >= s.start
                    && x.near_branch_target() <= x.ip()
            })
        });
        for ip in &path {
            if let Some(insn) = insns.iter().find(|x| x.ip() == *ip) {
                let t = insn.near_branch_target();
                let tail_call = insn.flow_control() == FlowControl::UnconditionalBranch
                    && (t < f.addr || t >= f.addr + f.size);
                if insn.flow_control() == FlowControl::Call || tail_call {
                    if let Some((_, n, l)) = self.callee(t, depth + 1) {
                        nested += n;
                        loops |= l;
                    }
                }
            }
        }
        Some((cost, path, sections.len() + nested, loops))
    }

    fn listing(&self, f: &Func, path: &[u64], sections: &[Section]) -> String {
        let insns = self.decode(f);
        let mut fmt = IntelFormatter::new();
        let mut out = String::new();
        for ip in path {
            let Some(insn) = insns.iter().find(|x| x.ip() == *ip) else {
                continue;
            };
            let mut text = String::new();
            fmt.format(insn, &mut text);
            let mark = if sections.iter().any(|s| s.start == *ip) {
                "start:  "
            } else if sections.iter().any(|s| insn.next_ip() == s.post_commit) {
                "commit: "
            } else if sections
                .iter()
                .any(|s| *ip > s.start && *ip < s.post_commit)
            {
                "        "
            } else {
                ""
            };
            let _ = writeln!(out, "    {ip:#x}  {mark:8}{text}");
        }
        out
    }
}

fn permutations(s: &[Section]) -> Vec<Vec<Section>> {
    if s.len() <= 1 {
        return vec![s.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..s.len() {
        let mut rest = s.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// Instructions per operation under callgrind, and the path the binary reports.
fn callgrind(exe: &Path, case: &str) -> Result<(f64, String), String> {
    const N1: u64 = 20_000;
    const N2: u64 = 220_000;
    let run = |n: u64| -> Result<(u64, String), String> {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(exe)
            .args([case, &n.to_string()])
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "valgrind failed: {}",
                stderr.lines().last().unwrap_or("")
            ));
        }
        let ir = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or("no `Collected :` line from callgrind")?;
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("path: ").map(str::to_string))
            .unwrap_or_default();
        Ok((ir, path))
    };
    let (a, _) = run(N1)?;
    let (b, path) = run(N2)?;
    Ok(((b as f64 - a as f64) / (N2 - N1) as f64, path))
}

fn native_path(exe: &Path, case: &str) -> String {
    Command::new(exe)
        .args([case, "1000"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("path: ").map(str::to_string))
        })
        .unwrap_or_else(|| "failed".into())
}

fn main() {
    // `cargo test --benches` passes no `--bench`: a quick run without valgrind then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let exe = Path::new(env!("CARGO_BIN_EXE_fastpath"));
    let report = rseq_link_check::verify_file(exe).expect("verify the fastpath binary");
    let sections: Vec<Section> = report
        .sections
        .iter()
        .filter_map(|s| {
            Some(Section {
                start: s.descriptor.start_ip,
                post_commit: s.post_commit_ip?,
            })
        })
        .collect();
    let mut code = Code::load(exe, sections);
    let have_valgrind = !quick
        && Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());

    let mut md = String::new();
    let _ = writeln!(md, "### Instructions per operation (one thread)\n");
    let _ = writeln!(
        md,
        "| case | operation | path (native) | disassembly: fast path | sections on it | callgrind | path under callgrind |"
    );
    let _ = writeln!(md, "| --- | --- | --- | ---: | ---: | ---: | --- |");
    let mut counter_listing = String::new();
    for (case, what) in CASES {
        let f = code.find(&format!("op_{case}"));
        let (stat, nsec) = match &f {
            Some(f) => {
                let fp = code.fast_path(f, 0);
                if *case == "percpu_counter" {
                    if let Some((_, path, _, _)) = &fp {
                        counter_listing = code.listing(f, path, &code.sections_in(f));
                    }
                }
                match fp {
                    Some((c, _, n, false)) => (c.to_string(), n),
                    Some((c, _, n, true)) => (format!("{c} + copy loops"), n),
                    None => ("–".into(), 0),
                }
            }
            None => ("no symbol".into(), 0),
        };
        let native = native_path(exe, case).replace("n/a", "");
        let (cg, cg_path) = if have_valgrind {
            match callgrind(exe, case) {
                Ok((ir, p)) => (format!("{ir:.1}"), p.replace("n/a", "")),
                Err(e) => (e, String::new()),
            }
        } else {
            ("not run".into(), String::new())
        };
        let _ = writeln!(
            md,
            "| {case} | {what} | {native} | {stat} | {nsec} | {cg} | {cg_path} |"
        );
        println!("{case}: native path {native}, disassembly {stat} ({nsec} sections), callgrind {cg} ({cg_path})");
    }
    if !counter_listing.is_empty() {
        let _ = writeln!(
            md,
            "\nThe per-CPU counter's fast path (`op_percpu_counter`), as disassembled:\n"
        );
        let _ = writeln!(md, "```text\n{counter_listing}```");
    }
    println!("\n{md}");
    if !quick {
        save("instructions.md", &md);
    }
}
