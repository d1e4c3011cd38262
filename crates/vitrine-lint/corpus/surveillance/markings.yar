// Surveillance rules: each hunts documents or people, not malware. The
// linter's detection check; every finding ID must be provoked here.

rule Hunt_TopSecret_Banner
{
    strings:
        $a = "TOP SECRET" nocase
    condition:
        $a
}

rule Hunt_Capco_Regex
{
    strings:
        $r = /(TS|S|C)\/\/(SCI|NOFORN|ORCON|REL TO [A-Z, ]+)/
    condition:
        $r
}

rule Hunt_Marking_Wide
{
    strings:
        $w = "NOFORN" wide
        $x = "ORCON" xor
    condition:
        any of them
}

rule Hunt_Marking_Base64
{
    strings:
        $b = "FOR OFFICIAL USE ONLY" base64 base64wide
    condition:
        $b
}

rule Hunt_Marking_Hex_Utf16
{
    strings:
        // "SECRET//" as UTF-16LE
        $h = { 53 00 45 00 43 00 52 00 45 00 54 00 2F 00 2F 00 }
    condition:
        $h
}

rule Hunt_Marking_Hex_Xor
{
    strings:
        // "TOP SECRET" XOR 0x5A
        $h = { 0E 15 0A 7A 09 1F 19 08 1F 0E }
    condition:
        $h
}

rule Hunt_Foreign_Markings
{
    strings:
        $de = "VS-NUR FÜR DEN DIENSTGEBRAUCH" nocase
        $de2 = "STRENG GEHEIM"
        $fr = "DIFFUSION RESTREINTE"
        $ru = "СОВЕРШЕННО СЕКРЕТНО"
        $uk = "OFFICIAL-SENSITIVE"
        $nato = "COSMIC TOP SECRET"
    condition:
        any of them
}

rule Hunt_Classified_Word
{
    strings:
        $c = "classified" nocase fullword
        $s = "secret operation" nocase
    condition:
        any of them
}

rule Hunt_Codename_Condition
{
    condition:
        uint32(0) == 0xE011CFD0 and for any i in (0..10) : ( "TS//SCI" == "TS//SCI" )
}
