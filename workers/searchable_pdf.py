"""Stage *searchable PDF*: page images with an invisible, correctly placed text layer (PDF/A-2b).

Tesseract already wrote a one-page PDF holding only the invisible text layer
(``textonly_pdf``) in the same run that read the page; nothing is recognised twice. Each
page here is that text layer with the page image drawn underneath, put together with pypdf
without parsing either content stream (the way OCRmyPDF grafts its text layers). The page
image is the JPEG (DCT) that :func:`encode_page_image` made once for both the PDF and the
page view of the web UI: letting Tesseract write the image into its PDF cost a second JPEG
encoding, about 0.1 s of its run per page. Blank pages and pages from an engine without a
text layer are image only. Never JBIG2, which BSI TR-RESISCAN forbids because its symbol
coding can swap look-alike characters.

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

What is verified, and how: ``tests/unit/test_searchable_pdf.py`` runs pikepdf's PDF/A validator
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

import cv2
from PIL import ImageCms
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    RectangleObject,
    StreamObject,
    create_string_object,
)

from mailroom.core.domain import Box, PageOcr, PreparedPage
from mailroom.core.errors import MissingDependencyError, OcrError, ProcessingError

PRODUCER = "mailroom (Tesseract text layer)"
PDFA_PART, PDFA_CONFORMANCE = 2, "B"
#: The output condition as the ICC's registry of characterisations names it.
SRGB = "sRGB IEC61966-2.1"


#: JPEG quality of the page images (Tesseract's own default for its PDF images).
PAGE_JPEG_QUALITY = 85
_IMAGE_NAME = "/MailroomPage"


def encode_page_image(page: PreparedPage, quality: int = PAGE_JPEG_QUALITY) -> bytes:
    """The page image as a baseline JPEG: what the PDF shows and the web UI displays."""
    ok, jpeg = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ProcessingError(f"cannot encode page {page.number} as JPEG")
    return bytes(jpeg.tobytes())


def build_searchable_pdf(
    pages: list[PreparedPage],
    results: list[PageOcr],
    *,
    images: list[bytes] | None = None,
    title: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """One PDF/A-2b file: every page's image, with an invisible text layer where text was read.

    ``pages`` and ``results`` are parallel lists (as returned by ``recognize_page``);
    ``images`` their JPEG images from :func:`encode_page_image` (made here if not given).
    ``title`` becomes the document title; ``created`` (default: now) its creation date.
    """
    if len(pages) != len(results):
        raise ValueError(f"{len(pages)} pages but {len(results)} OCR results")
    if images is not None and len(images) != len(pages):
        raise ValueError(f"{len(pages)} pages but {len(images)} page images")
    if not pages:
        raise ValueError("a searchable PDF needs at least one page")
    if images is None:
        images = [encode_page_image(page) for page in pages]
    writer = PdfWriter()
    for page, result, jpeg in zip(pages, results, images, strict=True):
        text_layer = result.pdf if (result.pdf and not page.blank) else None
        _add_page(writer, page, jpeg, text_layer, result.pdf_box)
    declare_pdfa(writer, title=title, created=created or datetime.now(UTC))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _add_page(
    writer: PdfWriter,
    page: PreparedPage,
    jpeg: bytes,
    text_layer: bytes | None,
    text_box: Box | None,
) -> None:
    """Add one page: the image at the page's true size, under the text layer if there is one."""
    height, width = page.image.shape[:2]
    width_pt, height_pt = _points(width, page.dpi), _points(height, page.dpi)
    text: list[IndirectObject] = []
    if text_layer is None:
        pdf_page = writer.add_blank_page(width=width_pt, height=height_pt)
    else:
        pdf_page, text = _text_layer_page(
            writer, page, text_layer, text_box or Box(0, 0, width, height)
        )
    image = StreamObject()
    image.set_data(jpeg)  # already DCT-encoded: stored as it is
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/Filter"): NameObject("/DCTDecode"),
        }
    )
    resources = pdf_page.setdefault(NameObject("/Resources"), DictionaryObject()).get_object()
    xobjects = resources.setdefault(NameObject("/XObject"), DictionaryObject()).get_object()
    name = _IMAGE_NAME
    while name in xobjects:  # never shadow a resource of the text layer
        name += "x"
    xobjects[NameObject(name)] = writer._add_object(image)
    draw = _stream(writer, f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm {name} Do Q\n")
    pdf_page[NameObject("/Contents")] = ArrayObject([draw, *text])


def _text_layer_page(
    writer: PdfWriter, page: PreparedPage, text_layer: bytes, box: Box
) -> tuple[PageObject, list[IndirectObject]]:
    """Tesseract's text-layer page, grown to the whole page, and its content streams.

    ``box`` is the part of the page the text layer was read from (Tesseract reads only the
    page's content, see :func:`workers.preprocess.content_box`); the content streams are
    moved there with a ``cm`` translation, so no operator in them has to be parsed.
    """
    try:
        pdf_page = writer.add_page(PdfReader(io.BytesIO(text_layer)).pages[0])
    except (PdfReadError, IndexError, ValueError, KeyError) as exc:
        raise OcrError(
            f"the OCR text layer of page {page.number} is not a readable PDF: {exc}",
            hint="recognise the document again",
        ) from exc
    size, dpi = pdf_page.mediabox, page.dpi
    box_width, box_height = _points(box.width, dpi), _points(box.height, dpi)
    if abs(float(size.width) - box_width) > 1 or abs(float(size.height) - box_height) > 1:
        raise OcrError(
            f"the OCR text layer of page {page.number} is {float(size.width):.0f} x "
            f"{float(size.height):.0f} pt, the region it was read from "
            f"{box_width:.0f} x {box_height:.0f}",
            hint="recognise the document again",
        )
    height, width = page.image.shape[:2]
    dx, dy = _points(box.left, dpi), _points(height - box.top - box.height, dpi)
    text = [
        _stream(writer, f"q 1 0 0 1 {dx:.4f} {dy:.4f} cm\n"),
        *_content_layers(writer, pdf_page),
        _stream(writer, "\nQ\n"),
    ]
    pdf_page[NameObject("/MediaBox")] = RectangleObject(
        [0, 0, _points(width, dpi), _points(height, dpi)]
    )
    for key in ("/CropBox", "/TrimBox", "/BleedBox", "/ArtBox"):
        if key in pdf_page:
            del pdf_page[key]
    return pdf_page, text


def _points(pixels: int, dpi: int) -> float:
    return pixels * 72 / dpi


def _stream(writer: PdfWriter, content: str) -> IndirectObject:
    stream = StreamObject()
    stream.set_data(content.encode())
    return writer._add_object(stream)


def _content_layers(writer: PdfWriter, pdf_page: PageObject) -> list[IndirectObject]:
    """The page's content streams as a list of references, whatever form /Contents has."""
    contents = pdf_page.get("/Contents")
    if contents is None:
        return []
    resolved = contents.get_object()
    if isinstance(resolved, ArrayObject):
        return [c if isinstance(c, IndirectObject) else writer._add_object(c) for c in resolved]
    if isinstance(contents, IndirectObject):
        return [contents]
    return [writer._add_object(contents)]


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
