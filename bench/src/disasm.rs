//! Static fast-path analysis of a binary's critical sections: disassembly (iced-x86) of
//! the functions of an ELF file (object) and the cheapest path through a function's
//! control-flow graph that enters every critical section found in it (the `__rseq_cs`
//! descriptors, read by `rseq_link_check::verify_file`) at its `start_ip`, leaves it at its
//! commit, and then returns ([`Code::fast_path`]) or comes back to the head of the loop
//! around the sections ([`Code::loop_path`]).
//!
//! # Algorithm
//!
//! Dijkstra over the function's instructions, each costing 1 (a direct call costs 1 plus
//! its callee's own fast path, memoised), from the function's entry (or the loop head) to
//! the first section's `start_ip`; inside a section every instruction up to the commit is
//! counted once (a backward branch inside a section is a copy loop: counted once and
//! flagged); then from the `post_commit_ip` to the next section, in every order of the
//! sections, keeping the cheapest. Indirect branches end a path. The result is a lower bound
//! of what one operation executes when nothing aborts and no slow path is taken.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// Why a binary could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DisasmError {
    /// The file could not be read.
    #[error("cannot read the binary: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not an ELF file `object` reads.
    #[error("cannot parse the binary: {0}")]
    Parse(#[from] object::Error),
    /// The link checker could not read its critical sections.
    #[error("cannot read the critical sections: {0}")]
    Verify(String),
}

/// Units of path length per instruction in the search: the remainder breaks ties between
/// paths of equal length (taken branches count 1 each).
const SCALE: u64 = 1 << 16;

/// The fast path of a function or of one iteration of its hot loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPath {
    /// Instructions executed on it (callees' included).
    pub instructions: u64,
    /// Addresses of the instructions of the function itself on it, in order.
    pub path: Vec<u64>,
    /// Critical sections on it (in callees too).
    pub sections: usize,
    /// Whether a section on it holds a copy loop (counted once).
    pub copy_loops: bool,
}

/// A function of the binary, from its symbol table.
#[derive(Debug, Clone)]
pub struct Func {
    /// The symbol's (mangled) name.
    pub name: String,
    /// Its address.
    pub addr: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// The code of the binary: functions and their decoded instructions.
pub struct Code {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// `start_ip`.
    pub start: u64,
    /// `post_commit_ip` (`start_ip + post_commit_offset`).
    pub post_commit: u64,
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
    /// Reads the functions and executable sections of the ELF file at `path`, and its
    /// critical sections (`__rseq_cs` descriptors, read by `rseq_link_check::verify_file`).
    pub fn load(path: &Path) -> Result<Self, DisasmError> {
        let report =
            rseq_link_check::verify_file(path).map_err(|e| DisasmError::Verify(e.to_string()))?;
        let sections = report
            .sections
            .iter()
            .filter_map(|s| {
                Some(Section {
                    start: s.descriptor.start_ip,
                    post_commit: s.post_commit_ip?,
                })
            })
            .collect();
        let data = std::fs::read(path)?;
        let file = object::File::parse(&*data)?;
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
        Ok(Code {
            funcs,
            text,
            sections,
            callee_cost: HashMap::new(),
        })
    }

    /// The function whose (mangled) name contains `needle`: Rust's mangling keeps path
    /// segments readable (`_ZN8fastpath17op_x17h…E`).
    pub fn find(&self, needle: &str) -> Option<Func> {
        self.funcs.iter().find(|f| f.name.contains(needle)).cloned()
    }

    fn func_at(&self, addr: u64) -> Option<Func> {
        self.funcs.iter().find(|f| f.addr == addr).cloned()
    }

    /// The instructions of `f` (none when its bytes are outside the executable sections).
    pub fn decode(&self, f: &Func) -> Vec<Instruction> {
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
        let cost = self.fast_path_at(&f, depth).map(|(c, _, n, l)| (c, n, l));
        self.callee_cost.insert(addr, cost);
        cost
    }

    /// The critical sections whose start lies in `f`.
    pub fn sections_in(&self, f: &Func) -> Vec<Section> {
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
            let c = self.cost(&insn, depth) * SCALE;
            let next_ip = insn.next_ip();
            let mut succ = Vec::new();
            match insn.flow_control() {
                FlowControl::Next
                | FlowControl::Call
                | FlowControl::IndirectCall
                | FlowControl::XbeginXabortXend => succ.push((next_ip, 0)),
                FlowControl::ConditionalBranch => {
                    succ.push((next_ip, 0));
                    // A taken branch costs a little more: of two paths of equal length the
                    // one that falls through (the compiler's likely path) is kept.
                    succ.push((insn.near_branch_target(), 1));
                }
                FlowControl::UnconditionalBranch => {
                    let t = insn.near_branch_target();
                    if index.contains_key(&t) {
                        succ.push((t, 0));
                    } else if matches!(goal, Goal::Return) {
                        // A tail call: the callee's path to its return ends this one.
                        let tail = self.callee(t, depth + 1).map_or(0, |(c, _, _)| c);
                        let total = d + c + tail * SCALE;
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
            for (t, extra) in succ {
                if let Some(&j) = index.get(&t) {
                    let c = c + extra;
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
        Some((cost / SCALE, path))
    }

    /// The fast path of `f` through its critical sections (in the cheapest order): its
    /// cost, the addresses on it in `f`, and the number of sections on it (callees' too).
    pub fn fast_path(&mut self, f: &Func) -> Option<FastPath> {
        self.fast_path_at(f, 0)
            .map(|(instructions, path, sections, copy_loops)| FastPath {
                instructions,
                path,
                sections,
                copy_loops,
            })
    }

    fn fast_path_at(&mut self, f: &Func, depth: u32) -> Option<(u64, Vec<u64>, usize, bool)> {
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
        let (nested, loops) = self.on_path(f, &insns, &sections, &path, depth);
        Some((cost, path, sections.len() + nested, loops))
    }

    /// The fast path of one iteration of the hot loop of `f`: from the head of the
    /// loop (the target of the last backward branch of `f`, its latch; with critical
    /// sections in `f`, of the last one that spans them all) through every section of `f`
    /// and every call laid out between the head and the first branch back to it (the
    /// compiler lays cold calls, the slow paths, out after it) to a function with sections,
    /// and back to the head, direct calls on the way adding their callee's fast path.
    /// `None` when `f` has no such loop.
    pub fn loop_path(&mut self, f: &Func) -> Option<FastPath> {
        let insns = self.decode(f);
        let sections = self.sections_in(f);
        let lo = sections.iter().map(|s| s.start).min().unwrap_or(u64::MAX);
        let hi = sections.iter().map(|s| s.post_commit).max().unwrap_or(0);
        let head = insns
            .iter()
            .filter(|x| {
                let t = x.near_branch_target();
                matches!(
                    x.flow_control(),
                    FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
                ) && t >= f.addr
                    && t <= x.ip()
                    && t <= lo
                    && x.ip() >= hi
            })
            .max_by_key(|x| x.ip())?;
        let head = head.near_branch_target();
        // The first branch back to the head (cold blocks after the loop may repeat it).
        let latch = insns
            .iter()
            .filter(|x| {
                matches!(
                    x.flow_control(),
                    FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
                ) && x.near_branch_target() == head
                    && x.ip() >= head.max(hi)
            })
            .map(Instruction::ip)
            .min()?;
        // Calls laid out inside the loop (between its head and its latch) to functions that
        // run critical sections are waypoints too, like the sections of `f`.
        let mut waypoints = sections.clone();
        let calls: Vec<Instruction> = insns
            .iter()
            .filter(|x| x.flow_control() == FlowControl::Call && x.ip() >= head && x.ip() <= latch)
            .copied()
            .collect();
        for call in calls {
            if self
                .callee(call.near_branch_target(), 1)
                .is_some_and(|(_, n, _)| n > 0)
            {
                waypoints.push(Section {
                    start: call.ip(),
                    post_commit: call.next_ip(),
                });
            }
        }
        let mut best: Option<(u64, Vec<u64>)> = None;
        for order in permutations(&waypoints) {
            let mut at = head;
            let mut total = 0;
            let mut path = Vec::new();
            let mut ok = true;
            for s in &order {
                let Some((c, p)) = self.shortest(&insns, at, Goal::At(s.start), 0) else {
                    ok = false;
                    break;
                };
                total += c;
                path.extend(p);
                let inside: Vec<Instruction> = insns
                    .iter()
                    .filter(|x| x.ip() >= s.start && x.ip() < s.post_commit)
                    .copied()
                    .collect();
                for insn in inside {
                    // 1 per instruction of a section; a waypoint call adds its callee's path.
                    total += self.cost(&insn, 0);
                    path.push(insn.ip());
                }
                at = s.post_commit;
            }
            if !ok {
                continue;
            }
            let back = if at == head {
                // No section in `f`: the head itself, then the cheapest way back to it.
                self.cycle(&insns, head)
            } else {
                self.shortest(&insns, at, Goal::At(head), 0)
            };
            let Some((c, p)) = back else {
                continue;
            };
            total += c;
            path.extend(p);
            if best.as_ref().is_none_or(|(b, _)| total < *b) {
                best = Some((total, path));
            }
        }
        let (instructions, path) = best?;
        let (nested, copy_loops) = self.on_path(f, &insns, &sections, &path, 0);
        Some(FastPath {
            instructions,
            path,
            sections: sections.len() + nested,
            copy_loops,
        })
    }

    /// The cheapest cycle from the instruction at `head` back to it: its cost and path.
    fn cycle(&mut self, insns: &[Instruction], head: u64) -> Option<(u64, Vec<u64>)> {
        let insn = *insns.iter().find(|x| x.ip() == head)?;
        let c = self.cost(&insn, 0);
        let mut succ = vec![insn.next_ip()];
        if matches!(
            insn.flow_control(),
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
        ) {
            if insn.flow_control() == FlowControl::UnconditionalBranch {
                succ.clear();
            }
            succ.push(insn.near_branch_target());
        }
        let mut best: Option<(u64, Vec<u64>)> = None;
        for t in succ {
            let Some((d, p)) = (if t == head {
                Some((0, Vec::new()))
            } else {
                self.shortest(insns, t, Goal::At(head), 0)
            }) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| c + d < *b) {
                let mut path = vec![head];
                path.extend(p);
                best = Some((c + d, path));
            }
        }
        best
    }

    /// Sections entered by callees on `path` in `f`, and whether a copy loop is on it.
    fn on_path(
        &mut self,
        f: &Func,
        insns: &[Instruction],
        sections: &[Section],
        path: &[u64],
        depth: u32,
    ) -> (usize, bool) {
        let mut nested = 0;
        // A backward branch inside a section is a loop (a copy): counted once.
        let mut loops = sections.iter().any(|s| {
            insns.iter().any(|x| {
                x.ip() >= s.start
                    && x.ip() < s.post_commit
                    && x.flow_control() == FlowControl::ConditionalBranch
                    && x.near_branch_target() >= s.start
                    && x.near_branch_target() <= x.ip()
            })
        });
        for t in self.callees_on(f, path) {
            if let Some((_, n, l)) = self.callee(t.addr, depth + 1) {
                nested += n;
                loops |= l;
            }
        }
        (nested, loops)
    }

    /// The functions called (or tail-called) directly from the instructions at `path` in
    /// `f`, in path order.
    pub fn callees_on(&self, f: &Func, path: &[u64]) -> Vec<Func> {
        let insns = self.decode(f);
        path.iter()
            .filter_map(|ip| insns.iter().find(|x| x.ip() == *ip))
            .filter_map(|insn| {
                let t = insn.near_branch_target();
                let tail_call = insn.flow_control() == FlowControl::UnconditionalBranch
                    && (t < f.addr || t >= f.addr + f.size);
                (insn.flow_control() == FlowControl::Call || tail_call)
                    .then(|| self.func_at(t))
                    .flatten()
            })
            .collect()
    }

    /// The whole of `f`, one instruction a line, sections marked as in [`Code::listing`].
    pub fn full_listing(&self, f: &Func) -> String {
        let ips: Vec<u64> = self.decode(f).iter().map(Instruction::ip).collect();
        self.listing(f, &ips, &self.sections_in(f))
    }

    /// The instructions at `path` in `f`, one a line (Intel syntax), the first and last
    /// instruction of each critical section marked `start:` and `commit:`.
    pub fn listing(&self, f: &Func, path: &[u64], sections: &[Section]) -> String {
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
