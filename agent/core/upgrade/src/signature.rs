//! Release signatures: the minisign format (`minisign -S` signs, `.minisig`
//! files), checked with `minisign-verify`. Releases are signed offline; the
//! controller and the agent only check them against the keys they trust.

/// A trusted release key: the base64 line of a minisign public key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub public_key: String,
}

/// The base64 key line of a minisign public key file (its optional
/// `untrusted comment:` line dropped), checked to decode as a key.
pub fn public_key_line(file: &str) -> Result<String, String> {
    let line = file
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or("the public key file holds no key")?;
    minisign_verify::PublicKey::from_base64(line).map_err(|e| format!("not a minisign public key: {e}"))?;
    Ok(line.to_string())
}

/// Checks `signature` (a `.minisig` file's text) over `data` against the
/// trusted keys; returns the index of the key that signed it.
pub fn verify(trusted: &[TrustedKey], signature: &str, data: &[u8]) -> Result<usize, String> {
    let sig = minisign_verify::Signature::decode(signature).map_err(|e| format!("not a minisign signature: {e}"))?;
    if trusted.is_empty() {
        return Err("no release key is trusted yet (mast-controller release trust --public-key FILE)".into());
    }
    for (i, k) in trusted.iter().enumerate() {
        let Ok(pk) = minisign_verify::PublicKey::from_base64(&k.public_key) else { continue };
        if pk.verify(data, &sig, false).is_ok() {
            return Ok(i);
        }
    }
    Err("the signature does not match the file with any trusted release key".into())
}

/// A release key the controller trusts: its public key file, and for a key
/// added later, the minisign signature of that file by an older key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedKey {
    pub key_file: String,
    pub endorsement: Option<String>,
}

/// Which offered keys an agent pinning `pinned` (key lines) takes. An agent
/// that pins no key yet takes every well-formed key (it learns them from the
/// controller whose CA it pinned at enrollment); after that a key is taken
/// only when a pinned key (or one taken before it in this call) signed its
/// file. Returns the new key lines and, for each refused key, why.
pub fn accept_keys(pinned: &[String], offered: &[OfferedKey]) -> (Vec<String>, Vec<String>) {
    let mut known: Vec<String> = pinned.to_vec();
    let mut taken = Vec::new();
    let mut waiting: Vec<(String, &OfferedKey)> = Vec::new();
    let mut refused = Vec::new();
    for k in offered {
        match public_key_line(&k.key_file) {
            Ok(line) if known.contains(&line) || taken.contains(&line) => {}
            Ok(line) if pinned.is_empty() => taken.push(line),
            Ok(line) => waiting.push((line, k)),
            Err(e) => refused.push(e),
        }
    }
    known.extend(taken.iter().cloned());
    // Endorsements may chain (A signs B, B signs C): repeat until nothing moves.
    loop {
        let before = waiting.len();
        waiting.retain(|(line, k)| {
            let trusted: Vec<TrustedKey> = known.iter().map(|l| TrustedKey { public_key: l.clone() }).collect();
            let ok = k.endorsement.as_deref().is_some_and(|e| verify(&trusted, e, k.key_file.as_bytes()).is_ok());
            if ok {
                known.push(line.clone());
                taken.push(line.clone());
            }
            !ok
        });
        if waiting.len() == before {
            break;
        }
    }
    refused.extend(waiting.into_iter().map(|(line, k)| match k.endorsement {
        None => format!("key {line} is not endorsed by a pinned key"),
        Some(_) => format!("key {line}'s endorsement does not verify with a pinned key"),
    }));
    (taken, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key and a signature made with minisign 0.11 (`minisign -G -W`,
    // `minisign -S -m data` over the bytes below).
    const PUBLIC: &str = include_str!("../tests/fixtures/release.pub");
    const SIGNATURE: &str = include_str!("../tests/fixtures/data.minisig");
    const DATA: &[u8] = include_bytes!("../tests/fixtures/data");

    // Keys a to d and endorsements made with minisign 0.11: b's file signed
    // by a, c's by b, and c's by d (an untrusted key).
    fn key(name: &str) -> String {
        let text = match name {
            "a.pub" => include_str!("../tests/fixtures/rotation/a.pub"),
            "b.pub" => include_str!("../tests/fixtures/rotation/b.pub"),
            "c.pub" => include_str!("../tests/fixtures/rotation/c.pub"),
            "d.pub" => include_str!("../tests/fixtures/rotation/d.pub"),
            "b.pub.by-a.minisig" => include_str!("../tests/fixtures/rotation/b.pub.by-a.minisig"),
            "c.pub.by-b.minisig" => include_str!("../tests/fixtures/rotation/c.pub.by-b.minisig"),
            "c.pub.by-d.minisig" => include_str!("../tests/fixtures/rotation/c.pub.by-d.minisig"),
            other => panic!("no fixture {other}"),
        };
        text.to_string()
    }
    fn offered(name: &str, by: Option<&str>) -> OfferedKey {
        OfferedKey {
            key_file: key(&format!("{name}.pub")),
            endorsement: by.map(|b| key(&format!("{name}.pub.by-{b}.minisig"))),
        }
    }
    fn line(name: &str) -> String {
        public_key_line(&key(&format!("{name}.pub"))).unwrap()
    }

    #[test]
    fn rotation_takes_only_keys_endorsed_by_a_pinned_one() {
        // At enrollment nothing is pinned: every well-formed key is taken.
        let (taken, refused) = accept_keys(&[], &[offered("a", None), offered("d", None)]);
        assert_eq!((taken, refused.len()), (vec![line("a"), line("d")], 0));
        // Pinning a: b (endorsed by a) and c (by b, in a chain, offered
        // first) are taken; d (not endorsed) is refused.
        let (taken, refused) =
            accept_keys(&[line("a")], &[offered("c", Some("b")), offered("b", Some("a")), offered("d", None)]);
        assert_eq!(taken, vec![line("b"), line("c")]);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].contains("not endorsed"), "{refused:?}");
        // An endorsement by a key the agent does not pin counts for nothing.
        let (taken, refused) = accept_keys(&[line("a")], &[offered("c", Some("d"))]);
        assert!(taken.is_empty());
        assert!(refused[0].contains("does not verify"), "{refused:?}");
        // Pinned keys offered again are nothing new; garbage is refused.
        let junk = OfferedKey { key_file: "not a key".into(), endorsement: None };
        let (taken, refused) = accept_keys(&[line("a")], &[offered("a", None), junk]);
        assert!(taken.is_empty() && refused.len() == 1);
    }

    #[test]
    fn a_minisign_signature_verifies_and_tampering_does_not() {
        let key = TrustedKey { public_key: public_key_line(PUBLIC).unwrap() };
        let other = TrustedKey { public_key: "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3".into() };
        assert_eq!(verify(&[other.clone(), key.clone()], SIGNATURE, DATA), Ok(1));
        let mut tampered = DATA.to_vec();
        tampered[0] ^= 1;
        assert!(verify(std::slice::from_ref(&key), SIGNATURE, &tampered).unwrap_err().contains("does not match"));
        assert!(verify(&[other], SIGNATURE, DATA).is_err(), "an untrusted key");
        assert!(verify(&[], SIGNATURE, DATA).unwrap_err().contains("no release key"));
        assert!(verify(&[key], "garbage", DATA).unwrap_err().contains("not a minisign signature"));
        assert!(public_key_line("untrusted comment: x\nnot base64!\n").is_err());
        assert!(public_key_line("").is_err());
    }
}
