rule Hunt_Word_Documents
{
    strings:
        $ct = "[Content_Types].xml"
        $doc = "word/document.xml"
        $kw = "budget"
    condition:
        uint32(0) == 0x04034B50 and $ct and $doc and $kw
}

rule Hunt_Legacy_Office
{
    strings:
        $k = "project alpha" nocase
    condition:
        uint32be(0) == 0xD0CF11E0 and $k
}

rule Hunt_PDF_Reports
{
    strings:
        $pdf = "%PDF-"
        $k = "negotiation position" nocase
    condition:
        $pdf at 0 and $k
}

rule Hunt_Mail
{
    strings:
        $from = "From: " ascii
        $subj = "Subject: " ascii
        $rcv = "Received: from" ascii
        $k = "pipeline" nocase
    condition:
        $rcv and $subj and $from and $k
}

rule Hunt_Document_Names
{
    strings:
        $n1 = "minutes-2026.docx" nocase
        $n2 = /[a-z_]+_draft\.pdf/ nocase
    condition:
        any of them
}
