//! Subtensor's commitment field type: `Data`, with its exact SCALE encoding and type info.
//!
//! Discriminant 0 is `None`; 1..=129 are `Raw0`..`Raw128` (the byte count is the discriminant
//! minus one, with no length prefix); then four 32-byte hashes, a timelocked payload, a flag,
//! and `BigRaw` with a length prefix.

use codec::{Decode, DecodeWithMemTracking, Encode, Error, Input, Output};
use polkadot_sdk::{frame_support::traits::ConstU32, sp_runtime::BoundedVec};
use scale_info::{build::Fields, build::Variants, Path, Type, TypeInfo};

/// Longest `Raw` field.
pub const MAX_RAW: u32 = 128;
/// Longest `TimelockEncrypted` payload (subtensor's bound).
pub const MAX_BIG: u32 = 1024;
/// Longest `BigRaw` field (subtensor's bound).
pub const MAX_BIGRAW: u32 = 512;

const HASH_BASE: u8 = MAX_RAW as u8 + 2; // 130

/// One field of a commitment.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Data {
    /// No data.
    #[default]
    None,
    /// Up to `MAX_RAW` bytes, the length carried in the discriminant.
    Raw(BoundedVec<u8, ConstU32<MAX_RAW>>),
    /// A BLAKE2b-256 hash (what miners commit: the hash of their payload).
    BlakeTwo256([u8; 32]),
    /// A SHA-256 hash.
    Sha256([u8; 32]),
    /// A Keccak-256 hash.
    Keccak256([u8; 32]),
    /// A SHA3-256 hash.
    ShaThree256([u8; 32]),
    /// A drand-timelocked payload; decoded for subtensor compatibility, rejected by
    /// `set_commitment` (no beacon here).
    TimelockEncrypted {
        /// The ciphertext.
        encrypted: BoundedVec<u8, ConstU32<MAX_BIG>>,
        /// The drand round that reveals it.
        reveal_round: u64,
    },
    /// Asks subtensor to reset the committer's bonds; stored as data here.
    ResetBondsFlag,
    /// Up to `MAX_BIGRAW` bytes with a length prefix.
    BigRaw(BoundedVec<u8, ConstU32<MAX_BIGRAW>>),
}

impl Data {
    /// Bytes this field counts against the per-epoch space budget.
    pub fn len_for_budget(&self) -> u64 {
        self.encoded_size() as u64
    }
}

impl Encode for Data {
    fn encode_to<O: Output + ?Sized>(&self, dest: &mut O) {
        match self {
            Data::None => dest.push_byte(0),
            Data::Raw(bytes) => {
                dest.push_byte(bytes.len() as u8 + 1);
                dest.write(bytes);
            }
            Data::BlakeTwo256(h) | Data::Sha256(h) | Data::Keccak256(h) | Data::ShaThree256(h) => {
                let offset = match self {
                    Data::BlakeTwo256(_) => 0,
                    Data::Sha256(_) => 1,
                    Data::Keccak256(_) => 2,
                    _ => 3,
                };
                dest.push_byte(HASH_BASE + offset);
                dest.write(h);
            }
            Data::TimelockEncrypted { encrypted, reveal_round } => {
                dest.push_byte(HASH_BASE + 4);
                encrypted.encode_to(dest);
                reveal_round.encode_to(dest);
            }
            Data::ResetBondsFlag => dest.push_byte(HASH_BASE + 5),
            Data::BigRaw(bytes) => {
                dest.push_byte(HASH_BASE + 6);
                bytes.encode_to(dest);
            }
        }
    }
}

impl Decode for Data {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        let tag = input.read_byte()?;
        let hash = |input: &mut I| -> Result<[u8; 32], Error> {
            let mut h = [0u8; 32];
            input.read(&mut h)?;
            Ok(h)
        };
        Ok(match tag {
            0 => Data::None,
            1..=129 => {
                input.on_before_alloc_mem(tag as usize - 1)?;
                let mut bytes = alloc::vec![0u8; tag as usize - 1];
                input.read(&mut bytes)?;
                Data::Raw(BoundedVec::truncate_from(bytes))
            }
            130 => Data::BlakeTwo256(hash(input)?),
            131 => Data::Sha256(hash(input)?),
            132 => Data::Keccak256(hash(input)?),
            133 => Data::ShaThree256(hash(input)?),
            134 => Data::TimelockEncrypted {
                encrypted: BoundedVec::decode(input)?,
                reveal_round: u64::decode(input)?,
            },
            135 => Data::ResetBondsFlag,
            136 => Data::BigRaw(BoundedVec::decode(input)?),
            _ => return Err("invalid Data discriminant".into()),
        })
    }
}

// Every allocation in `decode` is bounded (128 bytes, or a BoundedVec's own check).
impl DecodeWithMemTracking for Data {}

macro_rules! raw_variants {
    ($variants:expr; $($n:literal)*) => {
        $variants$(.variant(concat!("Raw", stringify!($n)), |v| {
            v.index($n + 1).fields(Fields::unnamed().field(|f| f.ty::<[u8; $n]>()))
        }))*
    };
}

impl TypeInfo for Data {
    type Identity = Self;

    fn type_info() -> Type {
        let variants = Variants::new().variant("None", |v| v.index(0));
        let variants = raw_variants!(variants; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128);
        let hash = |index: u8| {
            move |v: scale_info::build::VariantBuilder<scale_info::form::MetaForm>| {
                v.index(index).fields(Fields::unnamed().field(|f| f.ty::<[u8; 32]>()))
            }
        };
        let variants = variants
            .variant("BlakeTwo256", hash(HASH_BASE))
            .variant("Sha256", hash(HASH_BASE + 1))
            .variant("Keccak256", hash(HASH_BASE + 2))
            .variant("ShaThree256", hash(HASH_BASE + 3))
            .variant("TimelockEncrypted", |v| {
                v.index(HASH_BASE + 4).fields(
                    Fields::named()
                        .field(|f| f.ty::<BoundedVec<u8, ConstU32<MAX_BIG>>>().name("encrypted"))
                        .field(|f| f.ty::<u64>().name("reveal_round")),
                )
            })
            .variant("ResetBondsFlag", |v| v.index(HASH_BASE + 5))
            .variant("BigRaw", |v| {
                v.index(HASH_BASE + 6)
                    .fields(Fields::unnamed().field(|f| f.ty::<BoundedVec<u8, ConstU32<MAX_BIGRAW>>>()))
            });
        Type::builder().path(Path::new("Data", module_path!())).variant(variants)
    }
}
