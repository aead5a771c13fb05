//! One compile-fail test per rule of the critical-section language; the expected
//! diagnostics (`ui/NAME.stderr`) are compared on the pinned toolchain.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
