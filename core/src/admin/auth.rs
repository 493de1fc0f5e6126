//! Who may use the admin API, as in Passenger's `ApiServerUtils.h authorize()`:
//! a peer whose uid (SO_PEERCRED) is root or the instance owner has full access;
//! otherwise HTTP Basic `ro_admin:<read-only password>` gives read access and
//! `admin:<full password>` full access. Nothing else gets in.

use http::HeaderMap;

use super::AdminState;

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: 401.
    None,
    /// Read the pool and inspect state (`ro_admin`).
    ReadOnly,
    /// Everything (`admin`, root, the owner).
    Full,
}

/// Compares without an early exit so timing does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes standard base64 (padding optional); `None` on any invalid input.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let trimmed = text.trim().trim_end_matches('=');
    let bytes = trimmed.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        for i in 0..produced {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// `(user, password)` from an `Authorization: Basic ...` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Decides the access level of one request.
pub fn authorize(state: &AdminState, peer_uid: Option<u32>, headers: &HeaderMap) -> Access {
    if let Some(uid) = peer_uid {
        if uid == 0 || uid == state.owner_uid {
            return Access::Full;
        }
    }
    let Some((user, password)) = basic_credentials(headers) else {
        return Access::None;
    };
    match user.as_str() {
        "admin" if constant_time_eq(password.as_bytes(), state.full_password.as_bytes()) => {
            Access::Full
        }
        "ro_admin"
            if constant_time_eq(password.as_bytes(), state.read_only_password.as_bytes()) =>
        {
            Access::ReadOnly
        }
        _ => Access::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known_values() {
        assert_eq!(
            base64_decode("YWRtaW46cHc=").as_deref(),
            Some(&b"admin:pw"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("Y!==").as_deref(), None);
        // The two symbols of the alphabet, as in passwords with punctuation.
        assert_eq!(base64_decode("+/+/").as_deref(), Some(&b"\xfb\xff\xbf"[..]));
        assert_eq!(
            base64_decode("YWRtaW46YT4/fg==").as_deref(),
            Some(&b"admin:a>?~"[..])
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        // Differences in two places must not cancel out.
        assert!(!constant_time_eq(b"ab", b"ba"));
    }
}
