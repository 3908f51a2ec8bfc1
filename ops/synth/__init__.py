"""Synthetic areas: realistic, deterministic, noisy feeds for one LA, with the truth.

`childindex synth` writes, for one LA and one academic year, the files the index would receive:
School Census XML per school for the autumn and spring terms, Common Transfer Files for pupils
who changed school between them, and CSV service feeds (GP registrations, health visiting,
social care, youth justice, Connexions, CAMHS, sexual health, substance misuse, early help),
plus `truth.csv` naming the true child behind every source record.

The area is generated in independent neighbourhood chunks (families, their homes, their own
schools and GP practices), each seeded from (seed, chunk index) alone, so output is
byte-identical for the same arguments and memory does not grow with the number of children.
Within a chunk, separate random streams drive the truth, the life events (moves, surname
changes, transfers), the noise and the file decoration, so changing a noise rate never changes
who the children are.

The census and CTF files deliberately carry the sections ingest must drop (ethnicity, FSM,
SEN, attendance, exclusions, assessments...), filled with fake values, so that ingest can be
tested against them. None of it is ever held by the index.

Layout of an area directory:

    census/<LAEstab>_SC_<year><AUT|SPR>.xml   one per school per term (Message)
    ctf/<from LAEstab>_CTF_<to LAEstab>_001.xml   pupils who changed school (CTfile)
    feeds/<service_type>_<chunk>.csv          ingest.service_feed.SERVICE_FEED_COLUMNS
    truth.csv                                 source_file,record_ref,true_child_id
    postcode_las.csv                          postcode,la: the homes' postcodes in the area's LA
                                              (CHILDINDEX_POSTCODE_LAS; ops.synth.postcode_table)

Phone numbers come from Ofcom's drama ranges and e-mail domains are under the reserved
example.com, example.org and example.net, so nothing written here can reach a real person.

The modules, in the order an area is made:

    draws          fast draws from a seeded random stream
    names          people and names: the name tables in ops/data, titles, e-mail slugs
    identifiers    UPN, NHS number, ULN and LA reference, with their check characters
    model          the area as plain data (calendar, addresses, carers, schools, children...)
    places         streets, postcodes and addresses of a neighbourhood
    organisations  schools, GP practices and service teams of a neighbourhood
    families       households, children's names and dates of birth, life events between terms
    children       each child's schooling, identifiers and services
    neighbourhood  one chunk built from (seed, LA, index) alone
    sources        which feeds state each child, and with what noise
    decoration     the sections ingest must drop, and the writers' XML helpers
    census, ctf, feeds   one writer per feed format
    records        the index's input models for true and noisy records
    postcode_table the postcode-to-LA table of an area's homes (moves between LAs)
    area           the whole area on disk, iterators over it, and `childindex synth`
"""

from ops.noise import NoiseRates
from ops.synth.area import (
    AreaSummary,
    command,
    iter_noisy_records,
    iter_source_records,
    iter_true_children,
    write_area,
)
from ops.synth.identifiers import make_la_reference, make_nhs_number, make_uln, make_upn
from ops.synth.model import (
    RELATIONSHIP_CODES,
    Address,
    Calendar,
    Carer,
    Child,
    Chunk,
    Family,
    Practice,
    School,
    Service,
    SourceFile,
    SourceRecord,
)
from ops.synth.names import name_tables
from ops.synth.neighbourhood import (
    CHUNK_CHILDREN,
    DEFAULT_ACADEMIC_YEAR,
    GENERATION_VERSION,
    MAX_CHILDREN,
    build_chunk,
)
from ops.synth.records import noisy_record, true_record
from ops.synth.sources import source_files

__all__ = [
    "CHUNK_CHILDREN",
    "DEFAULT_ACADEMIC_YEAR",
    "GENERATION_VERSION",
    "MAX_CHILDREN",
    "RELATIONSHIP_CODES",
    "Address",
    "AreaSummary",
    "Calendar",
    "Carer",
    "Child",
    "Chunk",
    "Family",
    "NoiseRates",
    "Practice",
    "School",
    "Service",
    "SourceFile",
    "SourceRecord",
    "build_chunk",
    "command",
    "iter_noisy_records",
    "iter_source_records",
    "iter_true_children",
    "make_la_reference",
    "make_nhs_number",
    "make_uln",
    "make_upn",
    "name_tables",
    "noisy_record",
    "source_files",
    "true_record",
    "write_area",
]
