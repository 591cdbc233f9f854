//! Domain-generation-algorithm (DGA) names, told by their letters alone: no list needed.
//!
//! Malware that generates its rendezvous domains registers names such as `xkqjzpwmvtrb.com`.
//! Only the registrable label is judged (`example` in `www.example.co.uk`, found with the public
//! suffix list): random-looking subdomains of a real domain (CDN shards, cache keys) are the
//! domain owner's business, not DGA. The score adds up what random strings have and names people
//! choose do not: letter pairs that are rare in English, high character entropy, long consonant
//! runs, few vowels, letters and digits interleaved, length. Labels shorter than 8 characters,
//! punycode and hyphenated labels are not judged. The false-positive rate on real names and the
//! detection rate on generated ones are measured by `ferret-dga-eval` (docs/detections.md).

use std::collections::HashMap;

/// Score at or above which a label is reported (see docs/detections.md for the trade-off).
pub const DEFAULT_THRESHOLD: f64 = 2.0;
/// Shortest label judged: shorter random names are too rare to tell from abbreviations.
pub const MIN_LEN: usize = 8;

/// Letter pairs common in English text (and so in names people choose).
const COMMON_BIGRAMS: &str = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co \
me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so \
rs un lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry \
mp fe bl ab gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa ef cu rn sc gi da yo cr \
cl du ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl ny ki rk ys \
ob mm fu ph og ms ye ud mb ip ub oi rl gu dr hr cc tw ft wn nu af hu nn eo vo rv nf xp gn sm fl iz ok nl my gl aw ju oa eq sy \
sl ps jo lf nv je nk kn gs dy hy ze ks xt bs ik dd cy rp sk xi oe oy ws lv dl rf eu dg wr xa yi nm eb rb tm xc eh tc gy ja hn yp za";

/// How a label scored, for the finding's `why`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub label: String,
    pub score: f64,
    pub entropy: f64,
    pub common_bigrams: f64,
    pub vowels: f64,
    pub consonant_run: usize,
}

#[derive(Debug)]
pub struct Dga {
    common: std::collections::HashSet<[u8; 2]>,
    threshold: f64,
}

impl Dga {
    pub fn new(threshold: f64) -> Dga {
        let common = COMMON_BIGRAMS.split_whitespace().filter_map(|b| <[u8; 2]>::try_from(b.as_bytes()).ok()).collect();
        Dga { common, threshold }
    }

    /// The label a DGA would have registered: the registrable domain's first label. Under a
    /// private suffix (`cloudfront.net`, `github.io`: a provider's customers) the provider's own
    /// label is the one judged, so its customers' generated-looking names are not.
    pub fn registrable_label(name: &str) -> Option<String> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        let suffix = psl::suffix(n.as_bytes())?;
        let suffix_text = std::str::from_utf8(suffix.as_bytes()).ok()?;
        if suffix.typ() == Some(psl::Type::Private) {
            return suffix_text.split('.').next().map(str::to_string);
        }
        if !suffix.is_known() {
            return None;
        }
        let head = n.strip_suffix(suffix_text)?.trim_end_matches('.');
        head.rsplit('.').next().filter(|l| !l.is_empty()).map(str::to_string)
    }

    /// Score one label (lowercase ASCII letters and digits).
    pub fn score(&self, label: &str) -> Option<Verdict> {
        let s = label.as_bytes();
        if s.len() < MIN_LEN
            || label.starts_with("xn--")
            || !s.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return None;
        }
        let len = s.len() as f64;
        let mut counts: HashMap<u8, usize> = HashMap::new();
        for c in s {
            *counts.entry(*c).or_default() += 1;
        }
        let entropy = -counts.values().map(|&n| n as f64 / len).map(|p| p * p.log2()).sum::<f64>();
        let pairs: Vec<[u8; 2]> = s
            .windows(2)
            .filter(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic())
            .map(|w| [w[0], w[1]])
            .collect();
        let common = pairs.iter().filter(|p| self.common.contains(*p)).count() as f64 / pairs.len().max(1) as f64;
        let is_vowel = |c: u8| b"aeiouy".contains(&c);
        let letters = s.iter().filter(|c| c.is_ascii_alphabetic()).count().max(1) as f64;
        let vowels = s.iter().filter(|&&c| is_vowel(c)).count() as f64 / letters;
        let (mut run, mut consonant_run) = (0usize, 0usize);
        for &c in s {
            if c.is_ascii_alphabetic() && !is_vowel(c) {
                run += 1;
                consonant_run = consonant_run.max(run);
            } else {
                run = 0;
            }
        }
        let switches = s.windows(2).filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit()).count();
        let score = (0.45 - common).max(0.0) * 4.0
            + (entropy - 3.0).max(0.0)
            + (consonant_run as f64 - 3.0).max(0.0) * 0.5
            + if switches >= 3 { 0.6 } else { 0.0 }
            + (0.25 - vowels).max(0.0) * 3.0
            + ((len - 8.0) / 12.0).min(1.0) * 0.8;
        Some(Verdict { label: label.to_string(), score, entropy, common_bigrams: common, vowels, consonant_run })
    }

    /// Whether a queried name looks generated: Some(verdict) when it does.
    pub fn check(&self, name: &str) -> Option<Verdict> {
        let label = Self::registrable_label(name)?;
        self.score(&label).filter(|v| v.score >= self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_score_high_and_chosen_names_low() {
        let d = Dga::new(DEFAULT_THRESHOLD);
        for name in ["xkqjzpwmvtrbh.com", "qzxvbnmlkjhgfd.net", "a8f3k2x9q7m4z1.org", "ewvfhqxmdkzcjtbn.info"] {
            assert!(
                d.check(name).is_some(),
                "{name}: {:?}",
                d.score(&Dga::registrable_label(name).unwrap_or_default())
            );
        }
        for name in [
            "www.wikipedia.org",
            "debian.org",
            "security.debian.org",
            "deb.debian.org",
            "github.com",
            "objects.githubusercontent.com",
            "d1a2b3c4d5e6f7.cloudfront.net",
            "static.crates.io",
            "kubernetes.default.svc.cluster.local",
            "stackoverflow.com",
            "amazonaws.com",
            "ec2-203-0-113-5.compute-1.amazonaws.com",
            "mozilla.org",
            "example.co.uk",
            "xn--bcher-kva.example",
            "login.microsoftonline.com",
        ] {
            assert!(
                d.check(name).is_none(),
                "{name}: {:?}",
                d.score(&Dga::registrable_label(name).unwrap_or_default())
            );
        }
    }

    #[test]
    fn only_the_registrable_label_is_judged() {
        assert_eq!(Dga::registrable_label("a.b.example.co.uk").as_deref(), Some("example"));
        assert_eq!(Dga::registrable_label("zq8x7v6b5n4m.cloudfront.net").as_deref(), Some("cloudfront"));
    }
}
