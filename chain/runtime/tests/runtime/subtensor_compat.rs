//! Compatibility with Bittensor's subtensor: decodes mainnet (finney) metadata and ours, and checks
//! that every call and storage item we share by name has the same pallet index, call index,
//! argument names and type shapes. Deliberate differences are listed here and in docs/chain.md.

use codec::Decode;
use frame_metadata::{
    v14::{StorageEntryType, StorageHasher},
    RuntimeMetadata, RuntimeMetadataPrefixed,
};
use scale_info::{form::PortableForm, PortableRegistry, TypeDef, TypeDefPrimitive};
use std::collections::BTreeMap;
use subnet_runtime::Runtime;

/// Subtensor mainnet metadata (V16), as fetched from finney.
const FINNEY: &[u8] = include_bytes!("../fixtures/subtensor-finney.scale");

/// Pallets whose calls and storage must agree with subtensor wherever names are shared.
const CHECKED_PALLETS: &[&str] = &["SubtensorModule", "Commitments", "AdminUtils", "Balances"];

/// The calls the client uses; they must exist in both runtimes and agree.
const REQUIRED_CALLS: &[(&str, &str)] = &[
    ("SubtensorModule", "set_weights"),
    ("SubtensorModule", "add_stake"),
    ("SubtensorModule", "remove_stake"),
    ("SubtensorModule", "serve_axon"),
    ("SubtensorModule", "burned_register"),
    ("SubtensorModule", "register_network"),
    ("Commitments", "set_commitment"),
    ("AdminUtils", "sudo_set_tempo"),
    ("AdminUtils", "sudo_set_weights_set_rate_limit"),
    ("AdminUtils", "sudo_set_min_burn"),
    ("Balances", "transfer_keep_alive"),
    ("Balances", "transfer_allow_death"),
];

/// Our own calls (subtensor has none by that name); their indices must be free in subtensor.
const OWN_CALLS: &[(&str, &str)] = &[("AdminUtils", "sudo_set_allow_loopback_axons")];

/// Our own storage items (see docs/chain.md for why).
const OWN_STORAGE: &[(&str, &str)] = &[
    ("SubtensorModule", "StakeOf"),
    ("SubtensorModule", "PendingEmission"),
    ("SubtensorModule", "AllowLoopbackAxons"),
];

struct Call {
    index: u8,
    args: Vec<(String, String)>,
}

struct Pallet {
    index: u8,
    calls: BTreeMap<String, Call>,
    storage: BTreeMap<String, String>,
}

/// Renders a type's shape: newtypes resolve to their inner type; names of structs, enums and
/// variants' fields stay, so a renamed or reordered field shows up as a difference. A type met
/// again inside itself renders as its path.
fn shape(reg: &PortableRegistry, id: u32, depth: usize) -> String {
    let ty = reg.resolve(id).expect("type id in registry");
    if depth > 8 {
        return format!("<{}>", ty.path.segments.join("::"));
    }
    let fields = |fields: &[scale_info::Field<PortableForm>]| -> String {
        let named = fields.iter().all(|f| f.name.is_some()) && !fields.is_empty();
        let inner: Vec<String> = fields
            .iter()
            .map(|f| {
                let s = shape(reg, f.ty.id, depth + 1);
                if named {
                    format!("{}:{s}", f.name.as_deref().unwrap_or(""))
                } else {
                    s
                }
            })
            .collect();
        if named {
            format!("{{{}}}", inner.join(","))
        } else {
            format!("({})", inner.join(","))
        }
    };
    match &ty.type_def {
        TypeDef::Composite(c) if c.fields.len() == 1 => shape(reg, c.fields[0].ty.id, depth + 1),
        TypeDef::Composite(c) => fields(&c.fields),
        TypeDef::Variant(v) => {
            let variants: Vec<String> =
                v.variants.iter().map(|v| format!("{}:{}{}", v.index, v.name, fields(&v.fields))).collect();
            format!("enum{{{}}}", variants.join("|"))
        }
        TypeDef::Sequence(s) => format!("Vec<{}>", shape(reg, s.type_param.id, depth + 1)),
        TypeDef::Array(a) => format!("[{};{}]", shape(reg, a.type_param.id, depth + 1), a.len),
        TypeDef::Tuple(t) => {
            let inner: Vec<String> = t.fields.iter().map(|f| shape(reg, f.id, depth + 1)).collect();
            format!("({})", inner.join(","))
        }
        TypeDef::Primitive(p) => match p {
            TypeDefPrimitive::Bool => "bool",
            TypeDefPrimitive::Char => "char",
            TypeDefPrimitive::Str => "str",
            TypeDefPrimitive::U8 => "u8",
            TypeDefPrimitive::U16 => "u16",
            TypeDefPrimitive::U32 => "u32",
            TypeDefPrimitive::U64 => "u64",
            TypeDefPrimitive::U128 => "u128",
            TypeDefPrimitive::U256 => "u256",
            TypeDefPrimitive::I8 => "i8",
            TypeDefPrimitive::I16 => "i16",
            TypeDefPrimitive::I32 => "i32",
            TypeDefPrimitive::I64 => "i64",
            TypeDefPrimitive::I128 => "i128",
            TypeDefPrimitive::I256 => "i256",
        }
        .into(),
        TypeDef::Compact(c) => format!("Compact<{}>", shape(reg, c.type_param.id, depth + 1)),
        TypeDef::BitSequence(_) => "BitVec".into(),
    }
}

fn hasher(h: &StorageHasher) -> &'static str {
    match h {
        StorageHasher::Blake2_128 => "Blake2_128",
        StorageHasher::Blake2_256 => "Blake2_256",
        StorageHasher::Blake2_128Concat => "Blake2_128Concat",
        StorageHasher::Twox128 => "Twox128",
        StorageHasher::Twox256 => "Twox256",
        StorageHasher::Twox64Concat => "Twox64Concat",
        StorageHasher::Identity => "Identity",
    }
}

fn storage_shape(reg: &PortableRegistry, ty: &StorageEntryType<PortableForm>) -> String {
    match ty {
        StorageEntryType::Plain(v) => format!("plain {}", shape(reg, v.id, 0)),
        StorageEntryType::Map { hashers, key, value } => format!(
            "map [{}] key {} value {}",
            hashers.iter().map(hasher).collect::<Vec<_>>().join(", "),
            shape(reg, key.id, 0),
            shape(reg, value.id, 0)
        ),
    }
}

/// Pallets by name, from SCALE-encoded `RuntimeMetadataPrefixed` (V16). Calls and storage are
/// rendered only for `CHECKED_PALLETS` (others hold whole `RuntimeCall`s, too big to render).
fn pallets(bytes: &[u8]) -> BTreeMap<String, Pallet> {
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).expect("metadata decodes");
    let RuntimeMetadata::V16(meta) = prefixed.1 else { panic!("expected V16 metadata") };
    let reg = &meta.types;
    meta.pallets
        .iter()
        .map(|p| {
            let checked = CHECKED_PALLETS.contains(&p.name.as_str());
            let calls = p.calls.as_ref().filter(|_| checked).map_or_else(BTreeMap::new, |c| {
                let TypeDef::Variant(v) = &reg.resolve(c.ty.id).expect("call type").type_def else {
                    panic!("call type of {} is not an enum", p.name)
                };
                v.variants
                    .iter()
                    .map(|v| {
                        let args = v
                            .fields
                            .iter()
                            .map(|f| (f.name.clone().unwrap_or_default(), shape(reg, f.ty.id, 0)))
                            .collect();
                        (v.name.clone(), Call { index: v.index, args })
                    })
                    .collect()
            });
            let storage = p.storage.as_ref().filter(|_| checked).map_or_else(BTreeMap::new, |s| {
                s.entries.iter().map(|e| (e.name.clone(), storage_shape(reg, &e.ty))).collect()
            });
            (p.name.clone(), Pallet { index: p.index, calls, storage })
        })
        .collect()
}

fn ours() -> BTreeMap<String, Pallet> {
    let metadata = Runtime::metadata_at_version(16).expect("the runtime serves V16 metadata");
    pallets(&metadata)
}

#[test]
fn every_pallet_has_subtensors_index() {
    let (finney, ours) = (pallets(FINNEY), ours());
    for (name, pallet) in &ours {
        let theirs = finney.get(name).unwrap_or_else(|| panic!("subtensor has no pallet {name}"));
        assert_eq!(pallet.index, theirs.index, "pallet {name}");
    }
    assert_eq!(ours["SubtensorModule"].index, 7);
    assert_eq!(ours["Commitments"].index, 18);
    assert_eq!(ours["AdminUtils"].index, 19);
}

#[test]
fn shared_calls_have_subtensors_index_names_and_shapes() {
    let (finney, ours) = (pallets(FINNEY), ours());
    let mut shared = 0;
    for pallet in CHECKED_PALLETS {
        let (mine, theirs) = (&ours[*pallet], &finney[*pallet]);
        for (name, call) in &mine.calls {
            match theirs.calls.get(name) {
                Some(other) => {
                    assert_eq!(call.index, other.index, "{pallet}.{name} call index");
                    assert_eq!(call.args, other.args, "{pallet}.{name} arguments");
                    shared += 1;
                }
                None => {
                    assert!(
                        OWN_CALLS.contains(&(*pallet, name.as_str())),
                        "{pallet}.{name} is not in subtensor"
                    );
                    assert!(
                        theirs.calls.values().all(|c| c.index != call.index),
                        "{pallet}.{name} takes index {} that subtensor uses",
                        call.index
                    );
                }
            }
        }
    }
    for (pallet, name) in REQUIRED_CALLS {
        assert!(ours[*pallet].calls.contains_key(*name), "we lack {pallet}.{name}");
        assert!(finney[*pallet].calls.contains_key(*name), "subtensor lacks {pallet}.{name}");
    }
    eprintln!("{shared} calls shared with subtensor agree");
}

#[test]
fn shared_storage_has_subtensors_keys_and_values() {
    let (finney, ours) = (pallets(FINNEY), ours());
    let mut shared = 0;
    for pallet in ["SubtensorModule", "Commitments"] {
        for (name, mine) in &ours[pallet].storage {
            match finney[pallet].storage.get(name) {
                Some(theirs) => {
                    assert_eq!(mine, theirs, "{pallet}.{name} storage shape");
                    shared += 1;
                }
                None => assert!(
                    OWN_STORAGE.contains(&(pallet, name.as_str())),
                    "{pallet}.{name} is not in subtensor"
                ),
            }
        }
    }
    eprintln!("{shared} storage items shared with subtensor agree");
}

#[test]
fn shape_rendering_matches_the_fixture_listing() {
    // Spot checks against ../shared/fixtures/subtensor-finney-calls.txt.
    let finney = pallets(FINNEY);
    let serve = &finney["SubtensorModule"].calls["serve_axon"];
    assert_eq!(serve.index, 4);
    let names: Vec<&str> = serve.args.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["netuid", "version", "ip", "port", "ip_type", "protocol", "placeholder1", "placeholder2"]
    );
    assert_eq!(serve.args[2].1, "u128");
    assert_eq!(
        finney["SubtensorModule"].storage["Weights"],
        "map [Identity, Identity] key (u16,u16) value Vec<(u16,u16)>"
    );
}
