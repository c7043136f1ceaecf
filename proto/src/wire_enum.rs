//! A macro for the enums that mirror a protobuf enum: the domain enum has no `UNSPECIFIED`
//! value, has lower-case names for Display and FromStr, and converts to and from the wire.

/// Defines a domain enum mirroring the generated protobuf enum `pb::$pb`.
///
/// Each variant maps to a lower-case name (Display, case-insensitive FromStr) and to a
/// variant of the protobuf enum. Declaration order is the `Ord` order and the order of `ALL`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: pb::$pb:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal => $pbv:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lower-case name, as printed by Display and accepted by FromStr.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The protobuf enum number.
            pub(crate) fn to_pb(self) -> i32 {
                match self {
                    $($name::$variant => crate::pb::$pb::$pbv as i32,)+
                }
            }

            /// The protobuf enum number, for the API's generated types (its schema imports
            /// these enums).
            pub fn number(self) -> i32 {
                self.to_pb()
            }

            /// Converts a received protobuf enum number, rejecting `UNSPECIFIED` and numbers
            /// this version does not know.
            pub(crate) fn from_pb(
                value: i32,
                field: &'static str,
            ) -> Result<Self, crate::ValidationError> {
                match crate::pb::$pb::try_from(value) {
                    $(Ok(crate::pb::$pb::$pbv) => Ok($name::$variant),)+
                    Ok(_) => Err(crate::ValidationError::Unspecified { field }),
                    Err(_) => Err(crate::ValidationError::UnknownEnumValue { field, value }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| crate::ParseError::Unknown {
                        what: $what,
                        value: s.to_owned(),
                    })
            }
        }
    };
}
