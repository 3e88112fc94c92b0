//! How Java prints the values ZooKeeper's four-letter words contain: socket addresses,
//! dates, doubles and hexadecimal longs.

use std::net::{IpAddr, SocketAddr};

/// `InetSocketAddress.toString()` of a resolved address without a host name:
/// `/127.0.0.1:2181`, `/[0:0:0:0:0:0:0:1]:2181` (an IPv4-mapped IPv6 address prints as
/// the IPv4 address, as Java converts it).
pub(crate) fn socket_addr(addr: &SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => format!("/{v4}:{}", addr.port()),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            let scope = match addr {
                SocketAddr::V6(s) if s.scope_id() != 0 => format!("%{}", s.scope_id()),
                _ => String::new(),
            };
            format!("/[{}{scope}]:{}", groups.join(":"), addr.port())
        }
    }
}

/// `Long.toHexString`: lower-case hexadecimal, two's complement for negative values.
pub(crate) fn hex(v: i64) -> String {
    format!("{:x}", v as u64)
}

/// `Double.toString` for the values the words print (averages rounded to a few
/// decimals): always with a fractional part (`0.0`, `4.0`, `2.7143`).
pub(crate) fn double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{v}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// `java.util.Date.toString()` in UTC: `Sun Nov 22 02:40:37 UTC 2026`.
pub(crate) fn date(ms_since_epoch: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms_since_epoch.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month = MONTHS[(m - 1) as usize];
    format!(
        "{weekday} {month} {d:02} {:02}:{:02}:{:02} UTC {y}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_java() {
        assert_eq!(
            socket_addr(&"127.0.0.1:46170".parse().unwrap()),
            "/127.0.0.1:46170"
        );
        assert_eq!(
            socket_addr(&"[::1]:2181".parse().unwrap()),
            "/[0:0:0:0:0:0:0:1]:2181"
        );
        assert_eq!(
            socket_addr(&"[::ffff:10.0.0.1]:2181".parse().unwrap()),
            "/10.0.0.1:2181"
        );
        assert_eq!(
            socket_addr(&"[fe80::1%2]:5".parse().unwrap()),
            "/[fe80:0:0:0:0:0:0:1%2]:5"
        );
    }

    #[test]
    fn dates_print_as_java() {
        // A date `dump` printed: 1795315237000 ms is Sun Nov 22 02:40:37 UTC 2026.
        assert_eq!(date(1_795_315_237_000), "Sun Nov 22 02:40:37 UTC 2026");
        assert_eq!(date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn numbers_print_as_java() {
        assert_eq!(double(0.0), "0.0");
        assert_eq!(double(4.0), "4.0");
        assert_eq!(double(2.7143), "2.7143");
        assert_eq!(hex(-1), "ffffffffffffffff");
        assert_eq!(hex(0x1_0000_0006), "100000006");
    }
}
