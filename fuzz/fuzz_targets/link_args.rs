//! Link command-line parsing on arbitrary text: the input is split into arguments at NUL
//! bytes and newlines and parsed as the `cc` command line rustc runs (`@file` arguments are
//! dropped, so that nothing is read from disk); the same text is also parsed as a response
//! file, a version script and a dynamic list, and its lines are used as glob patterns.
//! Must return a result or an error, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rseq_link_check::__fuzz::link::{
    glob_match, split_response_file, DynamicList, LinkLine, VersionScript,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<&str> = text
        .split(['\0', '\n'])
        .filter(|a| !a.starts_with('@'))
        .collect();
    let _ = LinkLine::parse(&args);
    let words: Vec<String> = split_response_file(&text)
        .into_iter()
        .filter(|a| !a.starts_with('@'))
        .collect();
    let _ = LinkLine::parse(&words);
    if let Ok(script) = VersionScript::parse(&text) {
        for name in ["__rseq_abi", "main", ""] {
            let _ = script.verdict(name);
        }
    }
    if let Ok(list) = DynamicList::parse(&text) {
        let _ = list.contains("__rseq_abi");
    }
    let mut lines = text.lines();
    if let (Some(pattern), Some(name)) = (lines.next(), lines.next()) {
        let _ = glob_match(pattern, name);
    }
});
