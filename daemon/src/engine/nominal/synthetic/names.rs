//! The names the synthetic population is drawn from: per origin, the most common family and
//! given names (most common first, drawn with a Zipf skew) and the parts a long tail of
//! rarer family names is built from.

/// Where a synthetic person's names come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    French,
    English,
    EastAfrican,
    Arabic,
    Slavic,
}

pub const ORIGINS: [Origin; 5] = [
    Origin::French,
    Origin::English,
    Origin::EastAfrican,
    Origin::Arabic,
    Origin::Slavic,
];

/// An origin's names.
pub struct Names {
    pub family: &'static [&'static str],
    pub male: &'static [&'static str],
    pub female: &'static [&'static str],
    /// Nationalities of persons of this origin, most common first.
    pub nationalities: &'static [&'static str],
    /// A tail family name is a start, then a middle (maybe empty), then an ending.
    pub starts: &'static [&'static str],
    pub middles: &'static [&'static str],
    pub endings: &'static [&'static str],
}

pub fn names(origin: Origin) -> &'static Names {
    match origin {
        Origin::French => &FRENCH,
        Origin::English => &ENGLISH,
        Origin::EastAfrican => &EAST_AFRICAN,
        Origin::Arabic => &ARABIC,
        Origin::Slavic => &SLAVIC,
    }
}

static FRENCH: Names = Names {
    family: &[
        "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
        "Moreau", "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand",
        "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau",
        "Vincent", "François", "Gauthier", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier",
        "Chevalier", "Faure", "André", "Bénard", "Lemaître", "Héraud", "Barthélemy",
    ],
    male: &[
        "Jean", "Pierre", "Michel", "Philippe", "Alain", "Nicolas", "François", "Jérôme",
        "Stéphane", "Sébastien", "Julien", "Thierry", "Éric", "Luc", "Hugo", "Théo", "Louis",
        "Gabriel", "Jean-Pierre", "Jean-Luc", "Mathéo", "Raphaël", "Benoît", "Loïc",
    ],
    female: &[
        "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Hélène", "Céline",
        "Chloé", "Léa", "Manon", "Camille", "Émilie", "Anaïs", "Marie-Claire", "Zoé", "Inès",
        "Élodie", "Mélanie", "Gaëlle", "Aurélie", "Océane",
    ],
    nationalities: &["FR", "BE", "CH", "SN", "CI", "CA", "ML"],
    starts: &[
        "ber", "bou", "cha", "de", "du", "fa", "ga", "gi", "la", "le", "ma", "mo", "pé", "ri",
        "ro", "sa", "ta", "va", "vi", "jo", "cou", "mar", "bro", "tes",
    ],
    middles: &["", "", "l", "r", "n", "m", "ch", "rt", "nd", "v", "ss", "gu"],
    endings: &[
        "ard", "ot", "et", "ier", "eau", "in", "on", "ault", "ès", "elle", "aud", "oux", "é",
        "ais", "ière", "ine", "ac",
    ],
};

static ENGLISH: Names = Names {
    family: &[
        "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
        "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
        "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
        "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Baker",
    ],
    male: &[
        "James", "John", "David", "Michael", "William", "Robert", "Richard", "Thomas",
        "Christopher", "Daniel", "Matthew", "George", "Oliver", "Harry", "Jack", "Charles",
        "Joseph", "Edward", "Peter", "Paul", "Andrew", "Mark", "Stephen",
    ],
    female: &[
        "Mary", "Sarah", "Elizabeth", "Emma", "Olivia", "Sophie", "Charlotte", "Emily",
        "Jessica", "Hannah", "Lucy", "Amelia", "Grace", "Susan", "Margaret", "Karen", "Helen",
        "Rachel", "Victoria", "Rebecca",
    ],
    nationalities: &["GB", "US", "IE", "AU", "CA", "NZ", "ZA"],
    starts: &[
        "ash", "bar", "brad", "carl", "dun", "fair", "hart", "king", "lang", "mor", "ram", "stan",
        "thorn", "wes", "whit", "ald", "bright", "cold", "hol", "pen", "brook", "craw", "gil",
    ],
    middles: &["", "", "", "ing", "er", "el", "s"],
    endings: &[
        "ton", "ley", "field", "wood", "well", "by", "ham", "worth", "more", "ford", "son",
        "er", "ridge", "man", "den", "cott", "hurst",
    ],
};

static EAST_AFRICAN: Names = Names {
    family: &[
        "Mwangi", "Otieno", "Kamau", "Wanjiru", "Ochieng", "Mutua", "Kiprono", "Njoroge",
        "Odhiambo", "Kariuki", "Wambui", "Onyango", "Njeri", "Chebet", "Kipchoge", "Mbwana",
        "Juma", "Hassani", "Mwakalinga", "Nyerere", "Makame", "Omondi", "Wekesa", "Muthoni",
        "Ndungu", "Kimani", "Akinyi", "Mugisha", "Nshimiyimana", "Okello", "Kibet", "Mollel",
    ],
    male: &[
        "John", "Joseph", "Peter", "David", "James", "Daniel", "Baraka", "Juma", "Hamisi",
        "Omari", "Bakari", "Emmanuel", "Brian", "Kevin", "Dennis", "Amani", "Jabari", "Mwita",
        "Salim", "Musa", "Francis", "Samuel",
    ],
    female: &[
        "Mary", "Grace", "Faith", "Esther", "Amina", "Zawadi", "Neema", "Rehema", "Wanjiku",
        "Akinyi", "Achieng", "Nafula", "Halima", "Mercy", "Joyce", "Aisha", "Imani", "Lucy",
        "Mwanaisha", "Winnie",
    ],
    nationalities: &["KE", "TZ", "UG", "RW", "BI", "SS", "ET"],
    starts: &[
        "ka", "ki", "mu", "wa", "nji", "o", "ngu", "ta", "mbo", "chi", "nya", "ma", "tu", "we",
        "ke", "mwa", "ochi", "ki", "a", "bi",
    ],
    middles: &["", "ra", "ri", "nge", "ku", "ti", "mbe", "si", "la", "ny", "ro"],
    endings: &[
        "nu", "ngi", "ro", "ti", "ma", "ka", "eno", "ieng", "uki", "oge", "go", "ra", "ya",
        "mbi", "zi", "ndo",
    ],
};

static ARABIC: Names = Names {
    family: &[
        "Mohamed", "Ahmed", "Ali", "Hassan", "Hussein", "Ibrahim", "Abdallah", "Mahmoud",
        "Saleh", "Omar", "Khalil", "Youssef", "Al-Masri", "Haddad", "Nasser", "Benali",
        "Bouzid", "Mansour", "Khaled", "Aziz", "Bakr", "Saïd", "El Amrani", "Chérif",
        "Belkacem", "Taha", "Rahman", "Suleiman", "Othman", "Farah", "Karim", "Hamdan",
    ],
    male: &[
        "Mohamed", "Ahmed", "Ali", "Omar", "Youssef", "Mahmoud", "Mustafa", "Khaled", "Hassan",
        "Ibrahim", "Abdelkader", "Karim", "Hamza", "Bilal", "Tarek", "Saïd", "Rachid", "Samir",
        "Walid", "Nabil", "Mohammed", "Muhammad", "Abdallah", "Yassine",
    ],
    female: &[
        "Fatima", "Aïcha", "Khadija", "Amina", "Mariam", "Nour", "Leïla", "Yasmine", "Salma",
        "Zainab", "Hana", "Samira", "Rania", "Malika", "Nadia", "Sara", "Asma", "Houda",
        "Meriem", "Soumaya",
    ],
    nationalities: &["EG", "MA", "DZ", "SD", "JO", "SY", "IQ", "TN", "LB", "SA"],
    starts: &[
        "al-", "el ", "ben", "bou", "abu ", "", "", "", "", "", "", "",
    ],
    middles: &[
        "ba", "da", "fa", "ha", "ja", "ka", "kha", "la", "ma", "na", "qa", "ra", "sa", "sha",
        "ta", "za", "mu", "ha", "sa", "na",
    ],
    endings: &[
        "bir", "dil", "fiq", "him", "jid", "kim", "lid", "mil", "nir", "qib", "rif", "sim",
        "shid", "tib", "zaq", "mouni", "laoui", "di", "ri", "wan", "kan", "bari", "dan",
    ],
};

static SLAVIC: Names = Names {
    family: &[
        "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Vasiliev", "Petrov", "Sokolov", "Novak",
        "Kowalski", "Wiśniewski", "Dvořák", "Novák", "Horvat", "Kovač", "Jovanović", "Petrović",
        "Nikolić", "Shevchenko", "Kovalenko", "Bondarenko", "Wójcik", "Kowalczyk", "Marek",
        "Pospíšil", "Zieliński", "Morozov", "Volkov", "Lebedev", "Kozlov", "Marković",
    ],
    male: &[
        "Ivan", "Sergei", "Aleksandr", "Dmitri", "Andrei", "Mikhail", "Vladimir", "Piotr",
        "Jan", "Tomasz", "Marek", "Jakub", "Miloš", "Stefan", "Nikola", "Oleksandr", "Yuri",
        "Pavel", "Jiří", "Łukasz", "Bogdan", "Dragan",
    ],
    female: &[
        "Olga", "Natalia", "Elena", "Anna", "Tatiana", "Irina", "Svetlana", "Maria",
        "Katarzyna", "Agnieszka", "Magdalena", "Jana", "Petra", "Milica", "Jelena", "Oksana",
        "Zofia", "Małgorzata", "Ludmila", "Vesna",
    ],
    nationalities: &["RU", "UA", "PL", "CZ", "RS", "HR", "BG", "SK", "BY"],
    starts: &[
        "kov", "nov", "pet", "vol", "sok", "mor", "lis", "bel", "gor", "dub", "kras", "tich",
        "zel", "jas", "kul", "bog", "vas", "mil", "rad", "sav", "hor", "grab", "dan", "stan",
    ],
    middles: &["", "", "al", "ar", "en", "il", "ov", "ich", "ań", "uš"],
    endings: &[
        "ov", "ev", "in", "ski", "ić", "ek", "uk", "czyk", "ák", "enko", "ovich", "ský", "ač",
        "iak", "ko", "ow",
    ],
};
