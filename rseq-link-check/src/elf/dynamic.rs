//! Facts from the dynamic section: SONAME, DT_NEEDED, DT_FILTER/DT_AUXILIARY, DT_RPATH,
//! DT_RUNPATH and flags.

use object::elf;
use object::read::StringTable;

/// What the dynamic section says about a module.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DynamicInfo {
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_FILTER` and `DT_AUXILIARY`, in order: the objects whose definitions replace this
    /// filter object's own.
    pub filtees: Vec<Filtee>,
    /// `DT_RPATH` (colon-separated list, unexpanded).
    pub rpath: Option<String>,
    /// `DT_RUNPATH` (colon-separated list, unexpanded).
    pub runpath: Option<String>,
    /// `DT_FLAGS`.
    pub flags: u64,
    /// `DT_FLAGS_1`.
    pub flags_1: u64,
    /// `DT_SYMBOLIC` present (or `DF_SYMBOLIC` in `DT_FLAGS`).
    pub symbolic: bool,
}

/// A `DT_FILTER` or `DT_AUXILIARY` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Filtee {
    /// The name, unexpanded.
    pub name: String,
    /// `DT_AUXILIARY`: the filtee is optional (the filter's own definitions serve when it is
    /// not found); `DT_FILTER` requires it.
    pub auxiliary: bool,
}

impl DynamicInfo {
    /// True when `DF_STATIC_TLS` is set: the module uses the initial-exec TLS model.
    pub fn static_tls(&self) -> bool {
        self.flags & u64::from(elf::DF_STATIC_TLS) != 0
    }
    /// True when `DF_1_NODEFLIB` is set.
    pub fn nodeflib(&self) -> bool {
        self.flags_1 & u64::from(elf::DF_1_NODEFLIB) != 0
    }

    pub(super) fn parse<D>(
        _endian: object::Endianness,
        entries: &[D],
        strings: StringTable<'_>,
        tag: impl Fn(&D) -> i64,
        val: impl Fn(&D) -> u64,
    ) -> Result<DynamicInfo, String> {
        let mut info = DynamicInfo::default();
        let s = |v: u64| -> Result<String, String> {
            let v =
                u32::try_from(v).map_err(|_| "dynamic string offset out of range".to_string())?;
            strings
                .get(v)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .map_err(|_| "dynamic string offset outside .dynstr".to_string())
        };
        for d in entries {
            let t = tag(d);
            let v = val(d);
            match t as u32 {
                _ if t == i64::from(elf::DT_NULL) => break,
                elf::DT_NEEDED => info.needed.push(s(v)?),
                elf::DT_FILTER | elf::DT_AUXILIARY => info.filtees.push(Filtee {
                    name: s(v)?,
                    auxiliary: t == i64::from(elf::DT_AUXILIARY),
                }),
                elf::DT_SONAME => info.soname = Some(s(v)?),
                elf::DT_RPATH => info.rpath = Some(s(v)?),
                elf::DT_RUNPATH => info.runpath = Some(s(v)?),
                elf::DT_FLAGS => {
                    info.flags = v;
                    if v & u64::from(elf::DF_SYMBOLIC) != 0 {
                        info.symbolic = true;
                    }
                }
                elf::DT_FLAGS_1 => info.flags_1 = v,
                elf::DT_SYMBOLIC => info.symbolic = true,
                _ => {}
            }
        }
        Ok(info)
    }
}
