// @generated automatically by Diesel CLI.

diesel::table! {
    Authentication (uuid) {
        uuid -> Integer,
        #[max_length = 50]
        username -> Varchar,
        #[max_length = 255]
        password -> Varchar,
        #[max_length = 100]
        email -> Nullable<Varchar>,
        #[max_length = 100]
        username_key -> Nullable<Varchar>,
        #[max_length = 255]
        username_confusable -> Nullable<Varchar>,
        #[max_length = 255]
        email_confusable -> Nullable<Varchar>,
    }
}

diesel::table! {
    FriendRequest (id) {
        id -> Integer,
        src_uuid -> Integer,
        dst_uuid -> Integer,
        #[max_length = 255]
        nickname -> Nullable<Varchar>,
        #[max_length = 255]
        message -> Nullable<Varchar>,
        status -> Nullable<Bool>,
    }
}

diesel::table! {
    UserProfile (uuid) {
        uuid -> Integer,
        #[max_length = 255]
        avatar -> Nullable<Varchar>,
        #[max_length = 50]
        nickname -> Nullable<Varchar>,
        description -> Nullable<Text>,
        sex -> Nullable<Bool>,
    }
}

diesel::joinable!(UserProfile -> Authentication (uuid));

diesel::allow_tables_to_appear_in_same_query!(Authentication, FriendRequest, UserProfile,);
