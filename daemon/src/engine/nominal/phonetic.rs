//! The consonant code of a name: what survives a change of script (issue 13, item 4).
//!
//! A name written in Cyrillic, Greek or Arabic and brought back to Latin by `deunicode` is not
//! spelt as the Latin record is: Cyrillic gives `kh` for the `h` of "Hussein", `dzh` for a `j`,
//! `u` for a `w`; Arabic writes no short vowels at all ("محمد" comes back as `mhmd`, "Mohamed"
//! is the record), and has no `p` or `v`. The code keeps what these spellings agree on: the
//! consonants, in order, with the letters that scripts confuse put in one class, vowels and
//! the half-vowels `w` and `y` dropped, and doubled letters written once.
//!
//! This is not Soundex or Metaphone (or the `rphonetic` crate that has them): those are built
//! for English spelling, keep the first letter even when it is a vowel (Arabic drops it:
//! "Ali" comes back as `ly`), and know nothing of the digraphs that transliteration makes.
//! Beider-Morse is built for this problem but gives many codes per name, each a longer scan.

#[cfg(test)]
mod tests;

/// Digraphs first (longest first), then single letters; a letter not listed is dropped.
const DIGRAPHS: [(&str, char); 12] = [
    ("dzh", 'j'),
    ("shch", 'S'),
    ("sch", 'S'),
    ("sh", 'S'),
    ("ch", 'S'),
    ("zh", 'j'),
    ("dj", 'j'),
    ("kh", 'h'),
    ("gh", 'g'),
    ("th", 't'),
    ("dh", 'd'),
    ("ph", 'f'),
];

/// The code of an already folded name ([`super::fold`]): word breaks are ignored, so
/// "Jean Pierre" and "Jean-Pierre" and "Jeanpierre" have one code.
pub fn code(folded: &str) -> String {
    let letters: Vec<u8> = folded.bytes().filter(u8::is_ascii_lowercase).collect();
    let mut out = String::with_capacity(letters.len());
    let mut at = 0;
    while at < letters.len() {
        let rest = &letters[at..];
        let (class, used) = match DIGRAPHS
            .iter()
            .find(|(digraph, _)| rest.starts_with(digraph.as_bytes()))
        {
            Some((digraph, class)) => (Some(*class), digraph.len()),
            None => (letter_class(rest[0]), 1),
        };
        at += used;
        if let Some(class) = class {
            if !out.ends_with(class) {
                out.push(class);
            }
            if class == 'k' && rest.starts_with(b"x") {
                out.push('s');
            }
        }
    }
    out
}

/// Whether a name is written in another script than Latin. Its transliteration is lossy:
/// Arabic (and Hebrew) leave short vowels out, so "محمد" comes back as `mhmd`; Cyrillic
/// letters come back as digraphs (`kh`, `dzh`, `iu`). Only the [`code`]s of two such names can
/// say whether they are the same name.
pub fn transliterated(name: &str) -> bool {
    name.chars().any(|c| {
        c.is_alphabetic()
            && !matches!(c as u32,
                0x0000..=0x024F     // Basic Latin to Latin Extended-B
                | 0x1E00..=0x1EFF) // Latin Extended Additional
    })
}

fn letter_class(letter: u8) -> Option<char> {
    Some(match letter {
        b'a' | b'e' | b'i' | b'o' | b'u' | b'w' | b'y' => return None,
        b'b' | b'p' => 'b',
        b'c' | b'k' | b'q' | b'x' => 'k',
        b'f' | b'v' => 'f',
        b's' | b'z' => 's',
        other => other as char,
    })
}
