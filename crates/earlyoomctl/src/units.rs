//! Human-readable sizes (binary units, as the kernel and systemd's MemoryMax= use) and text
//! wrapping for the terminal.

/// `12.0 GiB`, `512.0 MiB`, `900 KiB`, `0 B`.
pub fn bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let v = b as f64;
    if v >= K * K * K * K {
        format!("{:.1} TiB", v / (K * K * K * K))
    } else if v >= K * K * K {
        format!("{:.1} GiB", v / (K * K * K))
    } else if v >= K * K {
        format!("{:.1} MiB", v / (K * K))
    } else if v >= K {
        format!("{:.0} KiB", v / K)
    } else {
        format!("{b} B")
    }
}

pub fn kib(k: i64) -> String {
    if k < 0 {
        format!("-{}", bytes(k.unsigned_abs() * 1024))
    } else {
        bytes(k as u64 * 1024)
    }
}

/// A memory limit file's value: bytes, or "max".
pub fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "max".into(), bytes)
}

/// Compact form for tables: `12.0G`, `512M`, `0`, `max`.
pub fn short(v: Option<u64>) -> String {
    let Some(b) = v else {
        return "max".into();
    };
    const K: f64 = 1024.0;
    let f = b as f64;
    if b == 0 {
        "0".into()
    } else if f >= K * K * K {
        format!("{:.1}G", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.0}M", f / (K * K))
    } else if f >= K {
        format!("{:.0}K", f / K)
    } else {
        format!("{b}")
    }
}

/// Word-wraps `text` to `width` columns, every line after the first indented by `indent`.
pub fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = indent;
    for (i, w) in text.split(' ').enumerate() {
        let len = w.chars().count();
        if i > 0 {
            if col + 1 + len > width {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(w);
        col += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(12 << 30), "12.0 GiB");
        assert_eq!(bytes(512 << 20), "512.0 MiB");
        assert_eq!(bytes(900 << 10), "900 KiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(kib(-3_145_728), "-3.0 GiB");
        assert_eq!(limit(None), "max");
        assert_eq!(short(Some(12_884_901_888)), "12.0G");
        assert_eq!(short(Some(52_428_800)), "50M");
        assert_eq!(short(Some(0)), "0");
        assert_eq!(wrap("aa bb cc", 0, 5), "aa bb\ncc");
        assert_eq!(wrap("aa bb cc", 2, 7), "aa bb\n  cc");
    }
}
