//! ZooKeeper's session password: `new java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)`.
//!
//! The password is derived from the session id alone, so a client can reattach to any
//! server of an ensemble, or to the same server after a restart, without the password
//! ever being stored. Reproducing Java's LCG bit for bit keeps sessions created by Apache
//! ZooKeeper valid after a migration, and ours valid to its clients.

const SUPER_SECRET: i64 = 0xB341_5C00;
const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const ADDEND: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// java.util.Random, only as far as `nextBytes` needs it.
struct JavaRandom(u64);

impl JavaRandom {
    fn new(seed: i64) -> Self {
        JavaRandom((seed as u64 ^ MULTIPLIER) & MASK)
    }

    fn next_int(&mut self) -> i32 {
        self.0 = self.0.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND) & MASK;
        (self.0 >> 16) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let mut rnd = self.next_int();
            for byte in chunk {
                *byte = rnd as u8;
                rnd >>= 8;
            }
        }
    }
}

pub fn generate_password(session_id: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut out);
    out
}

pub fn password_matches(session_id: i64, passwd: &[u8]) -> bool {
    passwd == generate_password(session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Values printed by Java 17: `new Random(id ^ 0xB3415C00L).nextBytes(new byte[16])`.
    #[test]
    fn matches_java() {
        let cases = [
            (72057594037927936i64, "f22acd4a97e69d6d20a49bb638eadb38"),
            (72108178542264320, "860ce925d25d0e0109f78aad371a95ee"),
            (1, "054cc74a37327db215e702e20c73f005"),
            (-1, "20f62cb5648dc2d771471c8a2486a9ee"),
            (i64::MAX, "20f62cb5648dc2d771471c8a2486a9ee"),
        ];
        for (id, want) in cases {
            assert_eq!(hex(&generate_password(id)), want, "session {id}");
        }
        assert!(password_matches(1, &generate_password(1)));
        assert!(!password_matches(2, &generate_password(1)));
        assert!(!password_matches(1, &[0u8; 16]));
    }
}
