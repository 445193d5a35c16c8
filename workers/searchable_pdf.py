"""Stage *searchable PDF*: page images with an invisible, correctly placed text layer (PDF/A-2b).

Tesseract already wrote a one-page PDF (image + invisible text) in the same run that read
the page; those pages are merged here with pypdf, nothing is recognised twice. Blank pages
and pages from an engine without PDF output become image-only pages. Page images are
JPEG (DCT) as Tesseract writes them - never JBIG2, which BSI TR-RESISCAN forbids because
its symbol coding can swap look-alike characters.

The file is declared and built as PDF/A-2b (ISO 19005-2, level B: it will look the same
when it is opened decades from now), with pypdf alone:

* an XMP metadata packet (uncompressed, ``/Type /Metadata /Subtype /XML``) with
  ``pdfaid:part`` 2 and ``pdfaid:conformance`` B; producer, creator tool, creation and
  modification date and, if given, the title say the same in XMP and in the Info dictionary;
* one output intent (``GTS_PDFA1``) with an embedded sRGB ICC profile made by LittleCMS
  through Pillow, its header checked when it is made. The page images are DeviceGray,
  which PDF/A allows once an output intent is present;
* a file identifier (``/ID``) in the trailer; pypdf writes the binary comment line after
  the ``%PDF-1.5`` header, uses no encryption and no LZW;
* the only font is Tesseract's GlyphLessFont (it carries the invisible text), embedded by
  Tesseract as a TrueType program (``FontFile2``); image-only pages have no font;
* no transparency: neither Tesseract nor Pillow writes soft masks, transparency groups or
  blend modes; no JBIG2, no image interpolation.

What is verified, and how: ``tests/test_searchable_pdf.py`` runs pikepdf's PDF/A validator
(``pikepdf.pdfa``, an allow-list checker that follows veraPDF's rules and approves only what
it recognises; a test dependency) on the output, with qpdf's syntax check for what that
validator takes on trust (cross-reference offsets, stream lengths), and checks each point
above separately by parsing the file (header, XMP against Info, output intent and ICC
header, ``/ID``, embedded fonts, filters, transparency). What is not verified: veraPDF
itself (a Java program not to be had here) and the finer file-syntax rules it adds (such
as the end-of-line markers around ``stream`` keywords); text that is drawn visibly (the
text layer is invisible, rendering mode 3, so glyph widths need not match the font); and
pages from an engine other than Tesseract, which are not checked at run time.
"""

from __future__ import annotations

import io
import zlib
from datetime import UTC, datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from PIL import Image, ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
    create_string_object,
)

from mailroom.domain import PageOcr, PreparedPage
from mailroom.errors import MissingDependencyError, OcrError

PRODUCER = "mailroom (Tesseract text layer)"
PDFA_PART, PDFA_CONFORMANCE = 2, "B"
#: The output condition as the ICC's registry of characterisations names it.
SRGB = "sRGB IEC61966-2.1"


def build_searchable_pdf(
    pages: list[PreparedPage],
    results: list[PageOcr],
    *,
    title: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """One PDF/A-2b file: every page's image, with an invisible text layer where text was read.

    ``pages`` and ``results`` are parallel lists (as returned by ``recognize_page``).
    ``title`` becomes the document title; ``created`` (default: now) its creation date.
    """
    if len(pages) != len(results):
        raise ValueError(f"{len(pages)} pages but {len(results)} OCR results")
    if not pages:
        raise ValueError("a searchable PDF needs at least one page")
    writer = PdfWriter()
    for page, result in zip(pages, results, strict=True):
        one_page = result.pdf if (result.pdf and not page.blank) else image_only_pdf(page)
        try:
            reader = PdfReader(io.BytesIO(one_page))
            writer.add_page(reader.pages[0])
        except (PdfReadError, IndexError, ValueError) as exc:
            raise OcrError(
                f"the OCR output of page {page.number} is not a readable PDF: {exc}",
                hint="recognise the document again",
            ) from exc
    declare_pdfa(writer, title=title, created=created or datetime.now(UTC))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image_only_pdf(page: PreparedPage, *, quality: int = 85) -> bytes:
    """A one-page PDF showing just the page image at its true size (JPEG-compressed)."""
    buffer = io.BytesIO()
    Image.fromarray(page.image, mode="L").save(
        buffer, format="PDF", resolution=float(page.dpi), quality=quality
    )
    return buffer.getvalue()


# --- PDF/A-2b ------------------------------------------------------------------------


def declare_pdfa(writer: PdfWriter, *, title: str | None, created: datetime) -> None:
    """Give ``writer`` what PDF/A-2b asks beyond the pages: metadata, output intent, ID."""
    when = created.astimezone(UTC).replace(microsecond=0)
    if title is not None:
        title = "".join(ch for ch in title if ch.isprintable()).strip() or None
    pdf_date = when.strftime("D:%Y%m%d%H%M%S+00'00'")
    info = {"/Producer": PRODUCER, "/Creator": PRODUCER, "/CreationDate": pdf_date}
    info["/ModDate"] = pdf_date
    if title:
        info["/Title"] = title
    writer.add_metadata(info)

    metadata = StreamObject()
    metadata.set_data(xmp_packet(title=title, when=when))  # uncompressed, as PDF/A wants it
    metadata[NameObject("/Type")] = NameObject("/Metadata")
    metadata[NameObject("/Subtype")] = NameObject("/XML")
    writer.root_object[NameObject("/Metadata")] = writer._add_object(metadata)

    profile = StreamObject()
    profile.set_data(zlib.compress(srgb_icc_profile()))
    profile[NameObject("/Filter")] = NameObject("/FlateDecode")
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): create_string_object(SRGB),
            NameObject("/Info"): create_string_object(SRGB),
            NameObject("/RegistryName"): create_string_object("http://www.color.org"),
            NameObject("/DestOutputProfile"): writer._add_object(profile),
        }
    )
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    writer.generate_file_identifiers()


def xmp_packet(*, title: str | None, when: datetime) -> bytes:
    """The XMP metadata: PDF/A identification, and the Info dictionary's entries again."""
    stamp = when.isoformat()
    title_xml = (
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt>'
        "</dc:title>"
        if title
        else ""
    )
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>{PDFA_PART}</pdfaid:part>
   <pdfaid:conformance>{PDFA_CONFORMANCE}</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   {title_xml}
   <xmp:CreateDate>{stamp}</xmp:CreateDate>
   <xmp:ModifyDate>{stamp}</xmp:ModifyDate>
   <xmp:MetadataDate>{stamp}</xmp:MetadataDate>
   <xmp:CreatorTool>{escape(PRODUCER)}</xmp:CreatorTool>
   <pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


@lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS's built-in, through Pillow), checked for PDF/A-2."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    problem = icc_profile_problem(profile, components=3)
    if problem:
        raise MissingDependencyError(
            f"Pillow's LittleCMS made an sRGB profile PDF/A cannot use: {problem}",
            hint="reinstall Pillow: pip install --force-reinstall pillow",
        )
    return profile


def icc_profile_problem(profile: bytes, *, components: int) -> str | None:
    """Why ``profile`` cannot be a PDF/A-2 output intent's profile, or None if it can.

    Checks the header (ICC.1 section 7.2): size, ``acsp`` signature, version 2 or 4, an
    output device class (monitor or printer) and a colour space with ``components``.
    """
    if len(profile) < 128:
        return f"{len(profile)} bytes, shorter than an ICC header"
    if int.from_bytes(profile[:4], "big") != len(profile):
        return "the header's size differs from the profile's"
    if profile[36:40] != b"acsp":
        return "no 'acsp' signature"
    if profile[8] not in (2, 4):
        return f"ICC version {profile[8]}, not 2 or 4"
    if profile[12:16] not in (b"mntr", b"prtr"):
        return f"device class {profile[12:16]!r}, not a monitor or printer"
    expected = {1: b"GRAY", 3: b"RGB ", 4: b"CMYK"}.get(components)
    if profile[16:20] != expected:
        return f"colour space {profile[16:20]!r}, not {expected!r}"
    return None
