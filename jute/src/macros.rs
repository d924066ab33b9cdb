//! The `record!` macro: one declaration per jute record.

/// Declares one or more jute records.
///
/// Each field is listed once, in wire order; the macro generates the struct
/// (public fields, `Debug, Clone, PartialEq, Eq, Default`), its
/// [`Record`](crate::Record) impl (nom reader + `BytesMut` writer) and its
/// [`Field`](crate::Field) impl (so records nest inside other records and
/// vectors).
///
/// ```
/// jute::record! {
///     /// A point.
///     pub struct Point { x: i32, y: i32 }
/// }
/// use jute::Record;
/// let p = Point { x: 1, y: -1 };
/// assert_eq!(Point::decode(&p.encode()).unwrap(), p);
/// ```
#[macro_export]
macro_rules! record {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::Record for $name {
            #[allow(unused_variables)]
            fn read(input: &[u8]) -> $crate::__private::nom::IResult<&[u8], Self> {
                $( let (input, $field) = <$ty as $crate::Field>::read_field(input)?; )*
                Ok((input, Self { $( $field ),* }))
            }

            #[allow(unused_variables)]
            fn write(&self, out: &mut $crate::__private::bytes::BytesMut) {
                $( $crate::Field::write_field(&self.$field, out); )*
            }
        }

        impl $crate::Field for $name {
            const MIN_SIZE: usize = 0 $( + <$ty as $crate::Field>::MIN_SIZE )*;

            fn read_field(input: &[u8]) -> $crate::__private::nom::IResult<&[u8], Self> {
                <Self as $crate::Record>::read(input)
            }

            fn write_field(&self, out: &mut $crate::__private::bytes::BytesMut) {
                <Self as $crate::Record>::write(self, out)
            }
        }
    )*};
}

/// Implements [`Field`](crate::Field) for a hand-written [`Record`](crate::Record).
macro_rules! field_via_record {
    ($($name:ty => $min:expr),* $(,)?) => {$(
        impl $crate::Field for $name {
            const MIN_SIZE: usize = $min;

            fn read_field(input: &[u8]) -> nom::IResult<&[u8], Self> {
                <Self as $crate::Record>::read(input)
            }

            fn write_field(&self, out: &mut bytes::BytesMut) {
                <Self as $crate::Record>::write(self, out)
            }
        }
    )*};
}
