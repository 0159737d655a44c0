//! Time zones (Windows and IANA names, graph-api.md §10) and the date formats
//! the service writes.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Windows zone ids the emulator understands, with their IANA equivalent
/// (CLDR windowsZones "001" territory).
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Coordinated Universal Time", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/Indianapolis"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Central Asia Standard Time", "Asia/Almaty"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
    ("UTC-11", "Etc/GMT+11"),
    ("UTC-09", "Etc/GMT+9"),
    ("UTC-08", "Etc/GMT+8"),
    ("UTC-02", "Etc/GMT+2"),
    ("UTC+12", "Etc/GMT-12"),
    ("UTC+13", "Etc/GMT-13"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Greenland Standard Time", "America/Godthab"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Cuba Standard Time", "America/Havana"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("Bahia Standard Time", "America/Bahia"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
];

/// `(UTC±hh:mm)` of a zone's standard (non-DST) offset.
fn utc_label(zone: Tz) -> String {
    use chrono::Offset;
    let year = chrono::Utc::now().year();
    let offset = |m: u32| {
        NaiveDate::from_ymd_opt(year, m, 1)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map(|t| zone.offset_from_utc_datetime(&t).fix().local_minus_utc())
            .unwrap_or(0)
    };
    let secs = offset(1).min(offset(7));
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    format!("(UTC{sign}{:02}:{:02})", secs / 3600, (secs % 3600) / 60)
}

/// `supportedTimeZones`: Windows ids (default) or IANA ids, each with a
/// display name built from its standard offset.
pub fn supported(iana: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (win, name) in WINDOWS_ZONES {
        let Ok(zone) = name.parse::<Tz>() else {
            continue;
        };
        let alias = if iana {
            (*name).to_string()
        } else {
            (*win).to_string()
        };
        if out.iter().any(|(a, _)| *a == alias) || *win == "Coordinated Universal Time" {
            continue;
        }
        out.push((alias.clone(), format!("{} {alias}", utc_label(zone))));
    }
    out
}

/// Resolves a Windows or IANA zone name. `None` when unsupported.
pub fn resolve(name: &str) -> Option<Tz> {
    let trimmed = name.trim();
    if let Some((_, iana)) = WINDOWS_ZONES
        .iter()
        .find(|(win, _)| win.eq_ignore_ascii_case(trimmed))
    {
        return iana.parse().ok();
    }
    if trimmed.contains('/') || trimmed.eq_ignore_ascii_case("utc") {
        return trimmed.parse().ok();
    }
    None
}

/// Parses the `dateTime` of a dateTimeTimeZone ("2019-03-15T12:00:00",
/// optionally with up to 7 fractional digits). An offset or `Z` is tolerated
/// and converted to the given zone.
pub fn parse_local(value: &str, zone: Tz) -> Option<NaiveDateTime> {
    let v = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(v) {
        return Some(dt.with_timezone(&zone).naive_local());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(n);
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Local wall time in `zone` → UTC (the earlier instant when ambiguous, the
/// first valid instant after a gap).
pub fn to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let shifted = local + chrono::Duration::hours(1);
            to_utc(shifted, zone)
        }
    }
}

/// "2019-03-15T12:00:00.0000000": the 7-digit form the service writes in
/// dateTimeTimeZone values.
pub fn format_local(local: NaiveDateTime) -> String {
    let ticks = local.nanosecond() / 100;
    format!("{}.{:07}", local.format("%Y-%m-%dT%H:%M:%S"), ticks)
}

/// Created/modified timestamps: up to 7 fractional digits with trailing zeros
/// trimmed, e.g. `2019-02-28T21:17:57.56197Z`.
pub fn format_utc_stamp(t: DateTime<Utc>) -> String {
    let ticks = t.nanosecond() / 100;
    let frac = format!("{ticks:07}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))
    } else {
        format!("{}.{}Z", t.format("%Y-%m-%dT%H:%M:%S"), frac)
    }
}

/// Parses a query bound (`startDateTime`/`endDateTime`): ISO 8601, an offset
/// is honoured and none means UTC (graph-api.md §1).
pub fn parse_bound(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim().replace(' ', "+");
    if let Ok(dt) = DateTime::parse_from_rfc3339(&v) {
        return Some(dt.with_timezone(&Utc));
    }
    parse_local(&v, Tz::UTC).map(|n| Utc.from_utc_datetime(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_names_resolve() {
        assert_eq!(
            resolve("Pacific Standard Time"),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(resolve("Asia/Tokyo"), Some(Tz::Asia__Tokyo));
        assert_eq!(resolve("Mars Standard Time"), None);
    }

    #[test]
    fn every_windows_zone_maps_to_a_known_iana_zone() {
        for (win, iana) in WINDOWS_ZONES {
            assert!(iana.parse::<Tz>().is_ok(), "{win} → {iana}");
        }
    }

    #[test]
    fn formats_match_the_service() {
        let local = parse_local("2019-03-15T12:00:00", Tz::UTC).unwrap();
        assert_eq!(format_local(local), "2019-03-15T12:00:00.0000000");
        let t = Utc.with_ymd_and_hms(2019, 2, 28, 21, 17, 57).unwrap()
            + chrono::Duration::nanoseconds(561_970_000);
        assert_eq!(format_utc_stamp(t), "2019-02-28T21:17:57.56197Z");
    }
}
