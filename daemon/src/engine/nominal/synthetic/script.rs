//! How a clerk elsewhere writes a recorded name: in Cyrillic or Arabic letters, without its
//! diacritics, or with typing errors.

use rand::Rng;

/// Latin spellings and the Cyrillic a Russian-speaking clerk writes for them, longest first.
/// Letter by letter with the usual digraphs (`sh` is ш, `j` is дж, `w` is у as in Уокер).
const CYRILLIC: [(&str, &str); 42] = [
    ("shch", "щ"),
    ("sch", "ш"),
    ("sh", "ш"),
    ("ch", "ч"),
    ("zh", "ж"),
    ("kh", "х"),
    ("th", "т"),
    ("ph", "ф"),
    ("gh", "г"),
    ("dh", "д"),
    ("dj", "дж"),
    ("ts", "ц"),
    ("ck", "к"),
    ("ya", "я"),
    ("yu", "ю"),
    ("ou", "у"),
    ("a", "а"),
    ("b", "б"),
    ("c", "к"),
    ("d", "д"),
    ("e", "е"),
    ("f", "ф"),
    ("g", "г"),
    ("h", "х"),
    ("i", "и"),
    ("j", "дж"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("q", "к"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("v", "в"),
    ("w", "у"),
    ("x", "кс"),
    ("y", "й"),
    ("z", "з"),
];

/// Latin spellings and their Arabic letters. Arabic writes no short vowels (`a`, `e` inside a
/// word are left out), long ones as و and ي, and has no p, v or g (ب, ف, غ).
const ARABIC: [(&str, &str); 37] = [
    ("sh", "ش"),
    ("ch", "ش"),
    ("kh", "خ"),
    ("th", "ث"),
    ("dh", "ذ"),
    ("gh", "غ"),
    ("ph", "ف"),
    ("dj", "ج"),
    ("ck", "ك"),
    ("ou", "و"),
    ("a", ""),
    ("e", ""),
    ("i", "ي"),
    ("o", "و"),
    ("u", "و"),
    ("y", "ي"),
    ("w", "و"),
    ("b", "ب"),
    ("p", "ب"),
    ("t", "ت"),
    ("d", "د"),
    ("r", "ر"),
    ("z", "ز"),
    ("s", "س"),
    ("f", "ف"),
    ("v", "ف"),
    ("q", "ق"),
    ("k", "ك"),
    ("c", "ك"),
    ("g", "غ"),
    ("l", "ل"),
    ("m", "م"),
    ("n", "ن"),
    ("h", "ه"),
    ("j", "ج"),
    ("x", "كس"),
    ("'", ""),
];

/// The name in Cyrillic letters, its first letter capital.
pub fn cyrillic(name: &str) -> String {
    let written = transcribe(name, &CYRILLIC, false, |_, _| None);
    let mut letters = written.chars();
    match letters.next() {
        Some(first) => first.to_uppercase().chain(letters).collect(),
        None => written,
    }
}

/// The name in Arabic letters: a vowel that starts a word is an alif (ا), a doubled letter is
/// written once (the shadda is left out, as in most print).
pub fn arabic(name: &str) -> String {
    transcribe(name, &ARABIC, true, |latin, word_start| {
        (word_start && latin.starts_with(['a', 'e', 'i', 'o', 'u'])).then_some("ا")
    })
}

/// The name with its diacritics gone (`Lefèvre` -> `Lefevre`, `Łukasz` -> `Lukasz`).
pub fn without_diacritics(name: &str) -> String {
    deunicode::deunicode(name)
}

/// How one typing error changes a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typo {
    Insertion,
    Deletion,
    Substitution,
    Transposition,
}

pub const TYPOS: [Typo; 4] = [
    Typo::Insertion,
    Typo::Deletion,
    Typo::Substitution,
    Typo::Transposition,
];

/// The name with one typing error of `kind` at a random letter; the name as it was if it has
/// too few letters for that error.
pub fn typo<R: Rng + ?Sized>(name: &str, kind: Typo, rng: &mut R) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&n| chars[n].is_alphabetic())
        .collect();
    if letters.len() < 2 {
        return name.to_owned();
    }
    let upper = chars.iter().filter(|c| c.is_uppercase()).count() > letters.len() / 2;
    let random_letter = |rng: &mut R, not: char| loop {
        let c = char::from(rng.gen_range(b'a'..=b'z'));
        let c = if upper { c.to_ascii_uppercase() } else { c };
        if !c.eq_ignore_ascii_case(&not) {
            break c;
        }
    };
    let at = letters[rng.gen_range(0..letters.len())];
    match kind {
        Typo::Insertion => {
            let c = random_letter(rng, chars[at]);
            chars.insert(at + usize::from(rng.gen_bool(0.5)), c);
        }
        Typo::Deletion => {
            chars.remove(at);
        }
        Typo::Substitution => chars[at] = random_letter(rng, chars[at]),
        Typo::Transposition => {
            // Two neighbouring letters that differ, or the error would be invisible.
            let pairs: Vec<usize> = letters
                .windows(2)
                .filter(|w| w[1] == w[0] + 1 && !chars[w[0]].eq_ignore_ascii_case(&chars[w[1]]))
                .map(|w| w[0])
                .collect();
            if pairs.is_empty() {
                return name.to_owned();
            }
            let first = pairs[rng.gen_range(0..pairs.len())];
            chars.swap(first, first + 1);
        }
    }
    chars.into_iter().collect()
}

/// Greedy longest-first transcription of the name's Latin letters (diacritics dropped, lower
/// case); anything else (spaces, hyphens) is kept. `once` writes a doubled letter once;
/// `first` may override the table for the first letters of a word.
fn transcribe(
    name: &str,
    table: &[(&str, &str)],
    once: bool,
    first: impl Fn(&str, bool) -> Option<&'static str>,
) -> String {
    let latin = deunicode::deunicode(name).to_ascii_lowercase();
    let mut out = String::with_capacity(latin.len() * 2);
    let mut rest = latin.as_str();
    let mut word_start = true;
    let mut last = "";
    while let Some(c) = rest.chars().next() {
        if let Some(&(spelling, letters)) = table.iter().find(|(s, _)| rest.starts_with(s)) {
            let letters = first(rest, word_start).unwrap_or(letters);
            if !(once && letters == last) {
                out.push_str(letters);
            }
            last = letters;
            rest = &rest[spelling.len()..];
            word_start = false;
        } else {
            out.push(c);
            last = "";
            rest = &rest[c.len_utf8()..];
            word_start = !c.is_ascii_alphabetic();
        }
    }
    out
}
