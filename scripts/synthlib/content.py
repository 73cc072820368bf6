"""What the synthetic lines say: scene words from the Debian word lists and nameplate/label lines.

Every string leaves here restricted to the charset. Words that contain a character outside it are
dropped whole (a word with a letter cut out would teach a wrong spelling); grammar lines lose only
the missing characters ("cos φ 0.82" -> "cos 0.82").
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable, Sequence

WORD_LISTS: tuple[str, ...] = (
    "/usr/share/dict/american-english",
    "/usr/share/dict/british-english",
)

# Of scene words: one of the label words below.
LABEL_WORD_SHARE = 0.12
# Of scene words: one of up to three letters (to, of, IN, km). Real text is full of them (a sixth
# of the words of iiit5k_train have one or two characters, a third up to three), a word list
# drawn uniformly has few (1% of scene lines were that short): the eighth training cycle read 89%
# of the development set's words of one or two characters, 92% of the longer ones (0.2.6: 90%,
# 93%), and dropped the last letter of a short word cut flush with the crop (TO read T).
TINY_WORD_SHARE = 0.12
# Letters of serial, model, part and lot codes, where they sit among digits. Makers leave out I, O
# and Q (vehicle identification numbers by ISO 3779, and many serial schemes): O and 0 differ only
# by width in most faces (in 8% of the 352 installed faces they overlap by more than 80%), which
# blur and a few pixels take away. From the whole alphabet they were coin flips: O read 0 and back
# in 54 of the 476 misreads of 4000 generated label lines by latin-crnn 0.2.11.
CODE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
# Words people put on things: frequent on signs and labels, short, mostly common.
_LABEL_WORDS = (
    "MODEL TYPE SERIAL INPUT OUTPUT POWER VOLTAGE CURRENT FREQ RATED MAX MIN NET WEIGHT DATE LOT "
    "BATCH CODE PART ITEM REF QTY SIZE CLASS PHASE SPEED TEMP WARNING CAUTION DANGER NOTICE "
    "MADE IN GERMANY CHINA USA JAPAN ITALY FRANCE KOREA TAIWAN INDIA MEXICO POLAND CZECH "
    "MOTOR PUMP FAN VALVE HEATER FILTER SENSOR CONTROLLER DRIVE INVERTER TRANSFORMER RELAY "
    "FUSE BREAKER SWITCH OUTLET CABLE BATTERY CHARGER ADAPTER SUPPLY UNIT MODULE PANEL BOX "
    "HOT SURFACE HIGH LOW PRESSURE FLOW LEVEL OPEN CLOSE ON OFF START STOP RESET TEST "
    "INDOOR OUTDOOR USE ONLY DO NOT REMOVE COVER KEEP DRY FRAGILE THIS SIDE UP"
).split()
_UNITS_V = ("V", "V~", "VAC", "VDC", "V AC", "V DC", "V ~", "V=")
_STREETS = ("St.", "Street", "Ave.", "Avenue", "Rd.", "Road", "Blvd.", "Lane", "Dr.", "Way", "Str.")
_COMPANY_SUFFIX = (
    "GmbH",
    "Inc.",
    "Ltd.",
    "Co., Ltd.",
    "AG",
    "S.A.",
    "LLC",
    "Corp.",
    "KG",
    "s.r.o.",
    "Oy",
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_COUNTRIES = (
    "Germany",
    "China",
    "USA",
    "Japan",
    "Italy",
    "France",
    "Korea",
    "Taiwan",
    "Poland",
    "Mexico",
    "India",
    "Vietnam",
    "Thailand",
    "Turkey",
    "Czech Republic",
    "the EU",
)


@functools.lru_cache(maxsize=4)
def load_words(charset: str, paths: tuple[str, ...] = WORD_LISTS) -> tuple[str, ...]:
    """Dictionary words spelled entirely with `charset` characters, without possessives."""
    allowed = set(charset) - {" "}
    words: set[str] = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    word = line.strip()
                    if word and not word.endswith("'s") and set(word) <= allowed:
                        words.add(word)
        except OSError:
            continue
    return tuple(sorted(words))


class TextSource:
    """Draws line texts: single scene words, short phrases and label/nameplate lines."""

    def __init__(self, charset: str, rng: random.Random) -> None:
        self.charset = charset
        self._allowed = set(charset)
        self.rng = rng
        self.words = load_words(charset)
        self.short_words = tuple(w for w in self.words if len(w) <= 6)
        self.tiny_words = tuple(w for w in self.words if len(w) <= 3)
        self._grammar: Sequence[tuple[float, Callable[[], str]]] = (
            (3.0, self.serial),
            (2.5, self.model),
            (2.0, self.part_number),
            (4.0, self.rating),
            (2.5, self.date),
            (1.5, self.lot),
            (1.0, self.price),
            (1.0, self.address),
            (1.0, self.phone),
            (1.5, self.temperature),
            (1.0, self.weight),
            (1.2, self.barcode_digits),
            (2.0, self.key_value),
            (0.6, self.web),
            (0.8, self.company),
            (1.0, self.notice),
            (0.8, self.network),
            (0.6, self.dimension),
        )
        self._grammar_weights = [w for w, _ in self._grammar]

    # -- public -------------------------------------------------------------------------------

    def line(self, kind: str) -> str:
        """A text for `kind` ('words', 'label' or 'mixed'), non-empty and within the charset."""
        for _ in range(20):
            if kind == "words":
                text = self.scene_words()
            elif kind == "label":
                text = self.label_line()
            else:
                text = self.scene_words() if self.rng.random() < 0.5 else self.label_line()
            text = self.clean(text)
            if text.strip():
                return text
        return self.random_chars()

    def clean(self, text: str) -> str:
        """Drop characters outside the charset and collapse the spaces that leaves."""
        kept = "".join(ch for ch in text if ch in self._allowed)
        return " ".join(kept.split()) if " " in self._allowed else kept.replace(" ", "")

    def label_line(self) -> str:
        """One nameplate/label line from the grammar; sometimes two fields on one line."""
        _, make = self.rng.choices(self._grammar, weights=self._grammar_weights)[0]
        text = make()
        if self.rng.random() < 0.12:
            _, other = self.rng.choices(self._grammar, weights=self._grammar_weights)[0]
            text = f"{text}{self.rng.choice(('  ', ' ', ' | ', ', ', '; '))}{other()}"
        return text

    def scene_words(self) -> str:
        """Mostly one word in some casing, like a cropped scene word; else numbers or phrases."""
        rng = self.rng
        if not self.words:
            return self.random_chars()
        r = rng.random()
        if r < 0.10:
            return self.number_word()
        if r < 0.82:
            text = self.cased(self.word())
        else:
            text = " ".join(self.cased(self.word()) for _ in range(rng.randint(2, 3)))
            text = self._same_case(text)
        if rng.random() < 0.15:
            text = self.decorate(text)
        return text

    # -- words --------------------------------------------------------------------------------

    def word(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < LABEL_WORD_SHARE:
            return rng.choice(_LABEL_WORDS)
        if r < LABEL_WORD_SHARE + TINY_WORD_SHARE and self.tiny_words:
            return rng.choice(self.tiny_words)
        pool = self.short_words if (r < 0.55 and self.short_words) else self.words
        return rng.choice(pool)

    def cased(self, word: str) -> str:
        r = self.rng.random()
        if r < 0.38:
            return word.upper()
        if r < 0.68:
            return word.lower()
        if r < 0.95:
            return word[:1].upper() + word[1:].lower()
        return word  # as in the dictionary (McDonald, iPhone-like mixes)

    def _same_case(self, phrase: str) -> str:
        r = self.rng.random()
        if r < 0.4:
            return phrase.upper()
        if r < 0.6:
            return phrase.title()
        return phrase

    def number_word(self) -> str:
        rng = self.rng
        forms = (
            lambda: str(rng.randint(1900, 2030)),
            lambda: str(rng.randint(0, 999)),
            lambda: str(rng.randint(1000, 99999)),
            lambda: f"{rng.randint(1, 99)}%",
            lambda: f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
            lambda: f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}",
            lambda: "24/7",
            lambda: f"No.{rng.randint(1, 99)}",
            lambda: self.ordinal(rng.randint(1, 99)),
            lambda: f"'{rng.randint(60, 99)}",
            lambda: f"{rng.randint(1, 99)}{rng.choice(('kg', 'km', 'mm', 'cm', 'g', 'L', 'ml'))}",
        )
        return rng.choice(forms)()

    @staticmethod
    def ordinal(n: int) -> str:
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    def display_reading(self) -> str:
        """What a seven-segment display shows: readings, times, temperatures, short codes."""
        rng = self.rng
        forms = (
            lambda: f"{rng.uniform(-99, 999):.{rng.randint(0, 2)}f}",
            lambda: str(rng.randint(0, 99999)),
            lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            lambda: f"{rng.uniform(-30, 99):.1f}°C",
            lambda: f"{rng.randint(-30, 99)}°",
            lambda: f"{rng.uniform(0, 30):.2f}",
            lambda: f"E{rng.randint(0, 99):02d}",
            # only letters a seven-segment digit shows unambiguously (no O/0, S/5, I/1, B/8)
            lambda: (
                rng.choice(
                    (
                        "Err",
                        "run",
                        "CAL",
                        "bAt",
                        "Auto",
                        "HEAt",
                        "dEF",
                        "PrE",
                        "End",
                        "donE",
                        "LoAd",
                        "CooL",
                        "FAn",
                        "HoLd",
                    )
                )
                + rng.choice(("", f" {rng.randint(1, 9)}"))
            ),
            lambda: "".join(rng.choice("0123456789AbCdEF") for _ in range(rng.randint(2, 6))),
        )
        return self.clean(rng.choice(forms)())

    def decorate(self, text: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.2:
            return text + rng.choice("!.,:?")
        if r < 0.35:
            return f"({text})" if rng.random() < 0.5 else f'"{text}"'
        if r < 0.6:
            return f"{text}{rng.choice(('', ' ', '-'))}{rng.randint(0, 999)}"
        if r < 0.75:
            return f"{rng.randint(1, 99)}{rng.choice(('', ' '))}{text}"
        if r < 0.85:
            return f"#{text}"
        return f"{text}{rng.choice(('&', '/', '-', '+'))}{self.cased(self.word())}"

    def random_chars(self) -> str:
        """A random string over the whole charset: keeps rare symbols in the training signal."""
        pool = self.charset.replace(" ", "") or self.charset
        n = self.rng.randint(1, 12)
        return "".join(self.rng.choice(pool) for _ in range(n))

    # -- field pieces -------------------------------------------------------------------------

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def uppers(self, n: int) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase) for _ in range(n))

    def code_letters(self, n: int) -> str:
        """Letters of a code that sit among digits: without I, O and Q (`CODE_LETTERS`)."""
        return "".join(self.rng.choice(CODE_LETTERS) for _ in range(n))

    def alnum(self, n: int) -> str:
        pool = CODE_LETTERS + string.digits * 2
        return "".join(self.rng.choice(pool) for _ in range(n))

    def code(self) -> str:
        """A product/serial-like code: groups of letters and digits joined by separators."""
        rng = self.rng
        groups = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(3, 4, 3, 1))[0]):
            kind = rng.random()
            n = rng.randint(1, 6)
            if kind < 0.45:
                groups.append(self.digits(n))
            elif kind < 0.6:
                groups.append(self.code_letters(min(n, 3)))
            else:
                groups.append(self.alnum(n))
        sep = rng.choice(("-", "-", "", "/", ".", " ", "_"))
        return sep.join(groups)

    def _label(self, *names: str) -> str:
        name = self.rng.choice(names)
        r = self.rng.random()
        if name.endswith((":", ".")):
            return name + ("" if r < 0.3 else " ")
        return name + (": " if r < 0.5 else (" " if r < 0.85 else ":"))

    def _case(self, text: str) -> str:
        return text.upper() if self.rng.random() < 0.3 else text

    # -- grammar ------------------------------------------------------------------------------

    def serial(self) -> str:
        rng = self.rng
        key = self._label(
            "S/N",
            "SN",
            "Serial No.",
            "SER. NO.",
            "Ser.No",
            "No.",
            "Serial",
            "Fab.-Nr.",
            "S/N:",
            "SN:",
        )
        value = rng.choice(
            (
                self.code,
                lambda: f"{self.alnum(3)}-{self.digits(5)}-{self.code_letters(1)}",
                lambda: (
                    f"{self.code_letters(2)}{rng.randint(2015, 2025)}"
                    f"{self.digits(rng.randint(4, 6))}"
                ),
                lambda: self.digits(rng.randint(6, 12)),
            )
        )()
        return value if rng.random() < 0.15 else key + value

    def model(self) -> str:
        rng = self.rng
        key = self._label(
            "MODEL",
            "Model",
            "MODEL NO.",
            "Type",
            "TYPE",
            "Typ",
            "Mod.",
            "Art.-Nr.",
            "Art. No.",
            "Model No.",
        )
        value = rng.choice(
            (
                lambda: (
                    f"{self.code_letters(rng.randint(1, 3))}-{self.digits(rng.randint(2, 4))}"
                    f"{self.code_letters(rng.randint(0, 2))}"
                ),
                lambda: f"{self.code_letters(rng.randint(2, 4))}{self.digits(rng.randint(2, 4))}",
                lambda: (
                    f"{self.code_letters(1)}{self.digits(1)}-"
                    f"{rng.randint(1, 99)}/{rng.randint(1, 9)}"
                ),
                self.code,
            )
        )()
        return value if rng.random() < 0.2 else key + value

    def part_number(self) -> str:
        key = self._label(
            "P/N",
            "PN",
            "Part No.",
            "REF",
            "Cat. No.",
            "Item",
            "Order No.",
            "Best.-Nr.",
            "Ref.",
            "SKU",
        )
        rng = self.rng
        value = rng.choice(
            (
                lambda: f"{self.digits(4)}-{self.digits(4)}-{self.digits(2)}",
                lambda: f"{self.digits(3)}.{self.digits(3)}.{self.digits(3)}",
                lambda: f"{self.code_letters(2)}{self.digits(6)}",
                self.code,
            )
        )()
        return key + value

    def rating(self) -> str:
        rng = self.rng
        makers = (
            self._voltage,
            self._voltage,
            self._frequency,
            self._power,
            self._current,
            self._misc_rating,
            self._misc_rating,
        )
        parts = [rng.choice(makers)() for _ in range(rng.randint(1, 3))]
        return rng.choice(("  ", " ", " / ", "   ")).join(parts)

    def _voltage(self) -> str:
        rng = self.rng
        v = rng.choice((12, 24, 48, 110, 115, 120, 208, 220, 230, 240, 380, 400, 415, 480, 690, 5))
        r = rng.random()
        if r < 0.2:
            return f"{v}-{v + rng.choice((10, 20, 40))}V{rng.choice(('', ' ~', '~'))}"
        if r < 0.3:
            return f"3~ {v}V"
        if r < 0.4:
            return f"{v}/{v * 2 if v < 300 else v - 170}V"
        return f"{v}{rng.choice(_UNITS_V)}"

    def _frequency(self) -> str:
        return self.rng.choice(("50Hz", "60Hz", "50/60Hz", "50 Hz", "50-60 Hz", "400Hz"))

    def _power(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{rng.choice((0.37, 0.55, 0.75, 1.1, 1.5, 2.2, 3, 4, 5.5, 7.5, 11))}kW"
        return f"{rng.randint(1, 300) * 10}{rng.choice(('W', ' W', 'VA', ' kVA'))}"

    def _current(self) -> str:
        rng = self.rng
        a = rng.choice(("0.5", "1", "1.5", "2.6", "4", "6", "10", "13", "16", "25", "32", "63"))
        return f"{a}{rng.choice(('A', ' A', 'mA'))}{rng.choice(('', '', ' max', ' MAX'))}"

    def _misc_rating(self) -> str:
        rng = self.rng
        forms = (
            lambda: f"IP{rng.choice(('20', '44', '54', '55', '65', '66', '67', '68', 'X4'))}",
            lambda: (
                f"{rng.choice((720, 960, 1400, 1450, 2800, 2850, 2900))} "
                f"{rng.choice(('r/min', 'rpm', 'min-1', 'U/min'))}"
            ),
            lambda: f"cos φ {rng.randint(70, 95) / 100}",
            lambda: f"Ins.Cl. {rng.choice('BFH')}",
            lambda: f"{rng.choice(('S1', 'S3 40%', 'IE2', 'IE3', 'IE4', 'CLASS II', 'Class B'))}",
            lambda: (
                f"{rng.choice((1, 2.2, 4.7, 10, 47, 100, 220, 470))}{rng.choice(('k', 'M', ''))}Ω"
            ),
            lambda: f"{rng.choice((1.5, 2.5, 4, 4.5, 10, 20))}µF ±{rng.choice((5, 10))}%",
            lambda: f"±{rng.choice(('0.5', '1', '2', '5', '10'))}%",
            lambda: f"{rng.randint(1, 16)} bar",
            lambda: f"{rng.choice(('PN', 'DN'))}{rng.choice((10, 16, 25, 40, 50, 80))}",
            lambda: f"η {rng.randint(80, 96)}.{rng.randint(0, 9)}%",
            lambda: f"{rng.randint(1, 99)}.{rng.randint(0, 9)} Nm",
            lambda: f"{rng.randint(1, 200)} {rng.choice(('l/min', 'm3/h', 'PSI', 'MPa', 'kPa'))}",
        )
        return rng.choice(forms)()

    def date(self) -> str:
        rng = self.rng
        y, m, d = rng.randint(1995, 2030), rng.randint(1, 12), rng.randint(1, 28)
        value = rng.choice(
            (
                f"{y}-{m:02d}-{d:02d}",
                f"{m:02d}/{y}",
                f"{m:02d}.{y}",
                f"{d:02d}.{m:02d}.{y}",
                f"{d:02d}/{m:02d}/{y % 100:02d}",
                f"{y}/{m:02d}",
                f"{y}.{m:02d}.{d:02d}",
                f"{d:02d} {_MONTHS[m - 1]} {y}",
                f"{_MONTHS[m - 1]} {y}",
                f"{y}{m:02d}{d:02d}",
                f"{m:02d}/{d:02d}/{y}",
                f"W{rng.randint(1, 52):02d}/{y}",
                f"{y % 100:02d}{m:02d}",
            )
        )
        if rng.random() < 0.35:
            return value
        key = self._label(
            "MFG",
            "MFD",
            "Mfg. Date",
            "DATE",
            "Date",
            "EXP",
            "Exp.",
            "BEST BEFORE",
            "Use by",
            "Prod.",
            "Manufactured",
            "Herst.",
            "PROD. DATE",
            "Datum",
        )
        return key + value

    def lot(self) -> str:
        rng = self.rng
        key = self._label(
            "LOT", "Lot", "LOT NO.", "BATCH", "Batch No.", "B/N", "Ch.-B.", "Charge", "L", "Lote"
        )
        value = rng.choice(
            (
                lambda: f"{self.digits(2)}{self.code_letters(1)}{self.digits(3)}",
                lambda: f"{self.digits(4)}-{self.code_letters(1)}",
                lambda: self.digits(rng.randint(4, 8)),
                self.code,
            )
        )()
        return key + value

    def price(self) -> str:
        rng = self.rng
        amount = f"{rng.randint(0, 999)}{rng.choice(('.', ','))}{rng.randint(0, 99):02d}"
        return rng.choice(
            (
                f"${amount}",
                f"EUR {amount}",
                f"USD {amount}",
                f"{amount} EUR",
                f"Price: {amount}",
                f"{amount}",
                f"${rng.randint(1, 99)}.99",
                f"{amount} $",
                f"CHF {amount}",
            )
        )

    def address(self) -> str:
        rng = self.rng
        street = self.cased(self.word()).title() if self.words else self.uppers(5)
        r = rng.random()
        if r < 0.5:
            return f"{rng.randint(1, 9999)} {street} {rng.choice(_STREETS)}"
        if r < 0.65:
            return f"{street}{rng.choice(('str.', 'strasse', 'weg'))} {rng.randint(1, 200)}"
        if r < 0.8:
            return f"P.O. Box {rng.randint(10, 99999)}"
        city = self.cased(self.word()).title() if self.words else self.uppers(6)
        if rng.random() < 0.5:
            return f"{city}, {self.uppers(2)} {self.digits(5)}"
        return f"{rng.choice(('D-', 'A-', 'CH-', 'F-', ''))}{self.digits(5)} {city}"

    def phone(self) -> str:
        rng = self.rng
        number = rng.choice(
            (
                f"+1 ({self.digits(3)}) {self.digits(3)}-{self.digits(4)}",
                f"+{rng.randint(30, 49)} {self.digits(3)} {self.digits(rng.randint(5, 8))}",
                f"0{self.digits(3)} {self.digits(6)}",
                f"1-800-{self.digits(3)}-{self.digits(4)}",
                f"+{rng.randint(30, 49)} ({self.digits(1)}){self.digits(2)} {self.digits(4)}-0",
                f"{self.digits(3)}.{self.digits(3)}.{self.digits(4)}",
            )
        )
        if rng.random() < 0.5:
            return number
        return self._label("Tel.", "Tel", "Phone", "Fax", "Hotline", "TEL", "Service") + number

    def temperature(self) -> str:
        rng = self.rng
        lo, hi = -rng.choice((10, 20, 25, 30, 40)), rng.choice((40, 50, 55, 60, 70, 85, 125))
        unit = rng.choice(("°C", "°C", " °C", "°F", "C"))
        return rng.choice(
            (
                f"{lo}{unit}...+{hi}{unit}",
                f"{lo}{unit} ~ +{hi}{unit}",
                f"{lo} - {hi}{unit}",
                f"Tmax {hi}{unit}",
                f"Ta = {hi}{unit}",
                f"+{rng.randint(2, 8)}{unit}",
                f"{rng.randint(-40, 150)}{unit}",
                f"T{rng.choice((40, 60, 85, 105))}",
                f"Store at {lo}{unit} to {hi}{unit}",
                f"{rng.randint(-30, 99)}.{rng.randint(0, 9)}{unit}",
            )
        )

    def weight(self) -> str:
        rng = self.rng
        value = rng.choice(
            (
                f"{rng.randint(1, 999)} g",
                f"{rng.randint(1, 99)}.{rng.randint(0, 9)} kg",
                f"{rng.randint(1, 99)}kg",
                f"{rng.randint(1, 50)} lbs",
                f"{rng.randint(1, 32)} oz",
                f"{rng.randint(1, 9)}.{rng.randint(0, 99):02d}kg",
            )
        )
        if rng.random() < 0.4:
            return value
        return self._label("Net Wt.", "NET WT", "NW", "GW", "Weight", "Gewicht", "Mass") + value

    def barcode_digits(self) -> str:
        rng = self.rng
        n = rng.choice((8, 12, 13, 13, 14, 10))
        if n == 13 and rng.random() < 0.5:
            return f"{self.digits(1)} {self.digits(6)} {self.digits(6)}"
        if n == 12 and rng.random() < 0.4:
            return f"{self.digits(1)} {self.digits(5)} {self.digits(5)} {self.digits(1)}"
        return self.digits(n)

    def key_value(self) -> str:
        rng = self.rng
        key = rng.choice(_LABEL_WORDS) if rng.random() < 0.6 or not self.words else self.word()
        key = key.upper() if rng.random() < 0.6 else key.title()
        value = rng.choice(
            (
                self.code,
                lambda: str(rng.randint(0, 9999)),
                self._misc_rating,
                self._voltage,
                lambda: self.cased(self.word()),
            )
        )()
        return f"{key}{rng.choice((': ', ':', ' ', ' = ', ' - '))}{value}"

    def web(self) -> str:
        rng = self.rng
        name = (self.word() if self.words else self.uppers(5)).lower()
        tld = rng.choice(("com", "de", "net", "org", "co.uk", "eu", "cn", "it", "fr"))
        return rng.choice(
            (
                f"www.{name}.{tld}",
                f"info@{name}.{tld}",
                f"{name}.{tld}",
                f"service@{name}-{rng.choice(('tools', 'tech', 'group'))}.{tld}",
                f"https://{name}.{tld}/{self.alnum(4).lower()}",
            )
        )

    def company(self) -> str:
        rng = self.rng
        name = self.cased(self.word()) if self.words else self.uppers(6)
        if rng.random() < 0.3:
            name = f"{name} {rng.choice(('Electric', 'Motors', 'Tools', 'Technik', 'Systems'))}"
        return f"{name} {rng.choice(_COMPANY_SUFFIX)}"

    def notice(self) -> str:
        rng = self.rng
        return self._case(
            rng.choice(
                (
                    f"Made in {rng.choice(_COUNTRIES)}",
                    "CE",
                    "UL Listed",
                    "RoHS",
                    "WARNING",
                    "CAUTION: HOT SURFACE",
                    "Do not open",
                    "Read instructions before use",
                    "ATTENTION",
                    "Keep dry",
                    "Indoor use only",
                    "Risk of electric shock",
                    "DANGER HIGH VOLTAGE",
                    "Disconnect power before servicing",
                    "Patent pending",
                    "Assembled in Mexico",
                    "FOR INDUSTRIAL USE ONLY",
                    "Class 2 power supply",
                    "Do not remove this label",
                    "Protect from moisture",
                    "Contents under pressure",
                )
            )
        )

    def network(self) -> str:
        rng = self.rng
        hexd = "0123456789ABCDEF"
        mac = ":".join("".join(rng.choice(hexd) for _ in range(2)) for _ in range(6))
        return rng.choice(
            (
                f"MAC: {mac}",
                f"MAC {mac.replace(':', '')}",
                f"IMEI {self.digits(15)}",
                f"FW v{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
                f"Rev. {rng.choice(string.ascii_uppercase[:8])}",
                f"HW {rng.randint(1, 5)}.{rng.randint(0, 9)}",
                f"ID: {self.alnum(8)}",
                f"FCC ID: {self.alnum(3)}-{self.alnum(6)}",
                f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            )
        )

    def dimension(self) -> str:
        rng = self.rng
        a, b = rng.randint(5, 999), rng.randint(5, 999)
        return rng.choice(
            (
                f"{a} x {b} mm",
                f"{a}x{b}",
                f"{a} x {b} x {rng.randint(5, 99)} mm",
                f"{a / 10:.1f} cm",
                f"M{rng.choice((3, 4, 5, 6, 8, 10, 12))}x{rng.randint(5, 60)}",
                f'{rng.randint(1, 24)}"',
                f"L={a}mm",
            )
        )
