//! C-compatible number text without allocation: printf's `%.*f` (earlyoom's `%5.2lf%%` and
//! friends) and plain decimal digits, for the report line, the messages, paths and fields.

use std::fmt;

/// C printf's `%.*f` for a double: Rust prints NaN as "NaN", C as "nan"; everything else
/// (inf, -inf, -0, rounding of the exact binary value) already agrees.
///
/// Finite values below 2^53 with at most 9 decimals, which is every percentage the daemon
/// prints, are formatted by [`fixed`] with integer arithmetic. The `-r` report line prints two
/// of them every second, and core's float formatting (Grisu with a Dragon4 fallback on a
/// bignum) is both slower and spread over more code pages than a wake-up should touch. Other
/// values go to core; `fixed_matches_core` checks that both give the same text.
pub struct CFloat(pub f64, pub usize, pub usize);

impl fmt::Display for CFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CFloat(v, width, prec) = *self;
        let mut buf = [0u8; FIXED_MAX];
        if let Some(n) = fixed(v, prec, &mut buf) {
            for _ in n..width {
                f.write_str(" ")?;
            }
            // The digits, sign and point are ASCII.
            return f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or(""));
        }
        if v.is_nan() {
            let s = if v.is_sign_negative() { "-nan" } else { "nan" };
            write!(f, "{:>width$}", s, width = width)
        } else {
            write!(f, "{:>width$.prec$}", v, width = width, prec = prec)
        }
    }
}

/// Longest output of [`fixed`]: a sign, 16 integer digits (< 2^53), a point and 9 decimals.
const FIXED_MAX: usize = 32;

/// `%.{prec}f` of `v` into `out` without floating-point formatting: the exact binary value,
/// rounded to `prec` decimals, ties to even (printf's and core's rule in the default rounding
/// mode). Returns the length, or None for NaN, infinities, |v| >= 2^53 and `prec` > 9.
///
/// v = m * 2^e exactly (m < 2^53, -1074 <= e <= 0 here), so v * 10^prec = m * 10^prec / 2^-e,
/// a quotient and a remainder of integers below 2^83, which fit a u128.
fn fixed(v: f64, prec: usize, out: &mut [u8; FIXED_MAX]) -> Option<usize> {
    const POW10: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let pow = *POW10.get(prec)?;
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (m, e) = match biased {
        0x7ff => return None,
        0 => (frac, -1074),
        _ => (frac | (1 << 52), biased - 1075),
    };
    if e > 0 {
        return None;
    }
    let scaled = u128::from(m) * u128::from(pow);
    let shift = e.unsigned_abs();
    let q = if shift == 0 {
        scaled
    } else if shift >= 128 {
        // v * 10^prec < 2^83 / 2^128: far below one half, rounds to 0.
        0
    } else {
        let q = scaled >> shift;
        let rem = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // q <= 2^53 * 10^9 < 2^84. Split q / pow into two u64 divisions (long division in base
    // 2^32): a u128 division is a call to compiler_builtins' __udivti3, code that nothing else
    // on the daemon's paths touches. hi < 2^52; r < pow < 2^30, so (r << 32 | lo) < pow * 2^32
    // and its quotient fits 32 bits.
    let hi = (q >> 32) as u64;
    let lo = (q & 0xffff_ffff) as u64;
    let t = ((hi % pow) << 32) | lo;
    let int = ((hi / pow) << 32) | (t / pow);
    let dec = t % pow;
    let mut n = 0;
    if bits >> 63 == 1 {
        out[n] = b'-';
        n += 1;
    }
    let mut digits = [0u8; 20];
    let d = decimal(int, &mut digits);
    out[n..n + d.len()].copy_from_slice(d);
    n += d.len();
    if prec > 0 {
        out[n] = b'.';
        n += 1;
        let mut x = dec;
        for k in (0..prec).rev() {
            out[n + k] = b'0' + (x % 10) as u8;
            x /= 10;
        }
        n += prec;
    }
    Some(n)
}

/// earlyoom's `PRIPCT` (`%5.2lf%%` without the `%`).
pub fn pct(v: f64) -> CFloat {
    CFloat(v, 5, 2)
}

/// The decimal digits of `v`, written at the end of `buf` (20 bytes hold any u64): the one
/// integer formatter of the allocation-free paths (pid paths, the report line's numbers).
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfloat_matches_printf() {
        assert_eq!(pct(1.0).to_string(), " 1.00");
        assert_eq!(pct(100.0).to_string(), "100.00");
        assert_eq!(pct(f64::NAN).to_string(), "  nan");
        assert_eq!(CFloat(f64::INFINITY, 0, 6).to_string(), "inf");
        assert_eq!(CFloat(-10.0, 0, 6).to_string(), "-10.000000");
        assert_eq!(CFloat(2.675, 0, 2).to_string(), "2.67"); // exact binary value rounds down, as glibc
    }

    /// `fixed` against core's `{:>w$.p$}` (which agrees with glibc's printf, see
    /// `cfloat_matches_printf`) over every kind of input it takes: random bit patterns,
    /// percentages, exact ties (k/8, k/1024...), the numbers next to them, subnormals, the
    /// 2^53 boundary, both signs, all precisions and some widths.
    #[test]
    fn fixed_matches_core() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: reproducible, no dependency.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut values = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            0.5,
            0.005,
            0.015,
            0.025,
            0.125,
            2.675,
            99.995,
            99.999_999_9,
            100.0,
            9_007_199_254_740_991.0, // 2^53 - 1: the largest value `fixed` takes
            9_007_199_254_740_992.0, // 2^53: handed to core
            4_503_599_627_370_495.5,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for _ in 0..100_000 {
            let r = next();
            values.push(f64::from_bits(r)); // any double, NaN included
            let pct = (r >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
            values.push(pct);
            values.push(-pct);
            // Exact binary ties for every precision up to 9, and their neighbours.
            let tie = (r % 1_000_000) as f64 / (1u64 << (r % 31)) as f64;
            values.push(tie);
            values.push(f64::from_bits(tie.to_bits() + 1));
            values.push(f64::from_bits(tie.to_bits().saturating_sub(1)));
            // An integer ratio as meminfo gives: avail * 100 / total.
            let total = (r >> 20) % 100_000_000 + 1;
            values.push((r % total) as f64 * 100.0 / total as f64);
        }
        let mut buf = [0u8; FIXED_MAX];
        let mut checked = 0;
        for &v in &values {
            for prec in 0..=10 {
                let n = fixed(v, prec, &mut buf);
                if v.is_finite() && v.abs() < 9_007_199_254_740_992.0 && prec <= 9 {
                    let n = n.unwrap_or_else(|| panic!("{v:e} .{prec} not handled"));
                    let ours = std::str::from_utf8(&buf[..n]).unwrap();
                    assert_eq!(
                        ours,
                        format!("{v:.prec$}"),
                        "{v:e} ({:#x}) .{prec}",
                        v.to_bits()
                    );
                    checked += 1;
                } else {
                    assert_eq!(n, None, "{v:e} .{prec}");
                }
            }
            let w = (v.to_bits() % 9) as usize;
            assert_eq!(
                CFloat(v, w, 2).to_string(),
                if v.is_nan() {
                    format!("{:>w$}", if v.is_sign_negative() { "-nan" } else { "nan" })
                } else {
                    format!("{v:>w$.2}")
                }
            );
        }
        assert!(checked > 5_000_000, "{checked}");
    }
}
