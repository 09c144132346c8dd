//! Shared helpers for the integration, property, scenario and interop tests.

pub mod vectors {
    //! Access to the redis-server 7.0.15 captures copied into `tests/vectors/` (so tests
    //! never read `../shared` at run time) and full decoders for their byte streams.

    use proto::{LinkDecoder, LinkItem, Request};
    use std::path::PathBuf;

    /// Directory holding the capture files.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/redis-7.0.15")
    }

    /// Reads one capture file.
    pub fn read(name: &str) -> Vec<u8> {
        let p = dir().join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("reading vector {}: {e}", p.display()))
    }

    /// All capture files whose name ends with `suffix`, sorted.
    pub fn files(suffix: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir())
            .expect("vectors dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(suffix))
            .collect();
        v.sort();
        v
    }

    /// Decodes a whole master→replica capture; panics if any byte is left undecoded.
    pub fn decode_m2r(bytes: &[u8]) -> Vec<(LinkItem, usize)> {
        let mut dec = LinkDecoder::new(1 << 30);
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            match dec.decode(&bytes[at..]) {
                Ok(Some((item, n))) => {
                    assert!(n > 0, "decoder made no progress at byte {at}");
                    out.push((item, n));
                    at += n;
                }
                Ok(None) => panic!("m2r stream ends mid-item at byte {at} of {}", bytes.len()),
                Err(e) => panic!("m2r decode error at byte {at}: {e}"),
            }
        }
        out
    }

    /// Decodes a whole replica→master capture into requests.
    pub fn decode_r2m(bytes: &[u8]) -> Vec<(Request, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            match Request::decode(&bytes[at..]) {
                Ok(Some((r, n))) => {
                    out.push((r, n));
                    at += n;
                }
                Ok(None) => panic!(
                    "r2m stream ends mid-request at byte {at} of {}",
                    bytes.len()
                ),
                Err(e) => panic!("r2m decode error at byte {at}: {e}"),
            }
        }
        out
    }

    /// The single RDB payload of a master→replica capture, if it has one.
    pub fn rdb_payload(name: &str) -> Option<bytes::Bytes> {
        decode_m2r(&read(name))
            .into_iter()
            .find_map(|(item, _)| match item {
                LinkItem::Rdb { payload, .. } => Some(payload),
                _ => None,
            })
    }
}
