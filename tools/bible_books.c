/* The 66 books: names in SWORD keys, OSIS ids, and the split each goes to
 * (shared/data/bible-es-en/README.md, "Splits": whole books, so that no
 * verse of a dev, test or held-out book is ever trained on). */
#include <string.h>

#include "bible_internal.h"

#define TR VKNMT_BIBLE_TRAIN
#define DV VKNMT_BIBLE_DEV
#define TS VKNMT_BIBLE_TEST
#define HO VKNMT_BIBLE_HELD_OUT

const bible_book bible_books[BIBLE_BOOKS] = {
    {"Genesis", "Gen", TR, false},          {"Exodus", "Exod", TR, false},
    {"Leviticus", "Lev", TR, false},        {"Numbers", "Num", TR, false},
    {"Deuteronomy", "Deut", TR, false},     {"Joshua", "Josh", TR, false},
    {"Judges", "Judg", TR, false},          {"Ruth", "Ruth", HO, false},
    {"I Samuel", "1Sam", TR, false},        {"II Samuel", "2Sam", TR, false},
    {"I Kings", "1Kgs", TR, false},         {"II Kings", "2Kgs", TR, false},
    {"I Chronicles", "1Chr", TR, false},    {"II Chronicles", "2Chr", TR, false},
    {"Ezra", "Ezra", DV, false},            {"Nehemiah", "Neh", TS, false},
    {"Esther", "Esth", HO, false},          {"Job", "Job", TR, false},
    {"Psalms", "Ps", TR, false},            {"Proverbs", "Prov", TR, false},
    {"Ecclesiastes", "Eccl", HO, false},    {"Song of Solomon", "Song", DV, false},
    {"Isaiah", "Isa", TR, false},           {"Jeremiah", "Jer", TR, false},
    {"Lamentations", "Lam", HO, false},     {"Ezekiel", "Ezek", TR, false},
    {"Daniel", "Dan", TR, false},           {"Hosea", "Hos", TR, false},
    {"Joel", "Joel", HO, false},            {"Amos", "Amos", DV, false},
    {"Obadiah", "Obad", TS, false},         {"Jonah", "Jonah", HO, false},
    {"Micah", "Mic", TS, false},            {"Nahum", "Nah", TS, false},
    {"Habakkuk", "Hab", DV, false},         {"Zephaniah", "Zeph", DV, false},
    {"Haggai", "Hag", TS, false},           {"Zechariah", "Zech", TR, false},
    {"Malachi", "Mal", TS, false},          {"Matthew", "Matt", TR, false},
    {"Mark", "Mark", TR, false},            {"Luke", "Luke", TR, false},
    {"John", "John", HO, false},            {"Acts", "Acts", TR, false},
    {"Romans", "Rom", TR, true},            {"I Corinthians", "1Cor", TR, true},
    {"II Corinthians", "2Cor", TR, true},   {"Galatians", "Gal", HO, true},
    {"Ephesians", "Eph", TR, true},         {"Philippians", "Phil", HO, true},
    {"Colossians", "Col", TS, true},        {"I Thessalonians", "1Thess", DV, true},
    {"II Thessalonians", "2Thess", DV, true}, {"I Timothy", "1Tim", TS, true},
    {"II Timothy", "2Tim", TS, true},       {"Titus", "Titus", DV, true},
    {"Philemon", "Phlm", DV, true},         {"Hebrews", "Heb", TR, true},
    {"James", "Jas", HO, false},            {"I Peter", "1Pet", DV, false},
    {"II Peter", "2Pet", TS, false},        {"I John", "1John", TR, false},
    {"II John", "2John", TR, false},        {"III John", "3John", TR, false},
    {"Jude", "Jude", DV, false},            {"Revelation of John", "Rev", TR, false},
};

int bible_book_find(const char *name, size_t len)
{
    for (int b = 0; b < BIBLE_BOOKS; b++)
        if (strlen(bible_books[b].sword) == len && memcmp(bible_books[b].sword, name, len) == 0)
            return b;
    return -1;
}

int vknmt_bible_book_split(const char *osis_id)
{
    for (int b = 0; b < BIBLE_BOOKS; b++)
        if (strcmp(bible_books[b].osis, osis_id) == 0)
            return (int)bible_books[b].split;
    return -1;
}

const char *vknmt_bible_split_name(vknmt_bible_split s)
{
    static const char *const names[] = {"train", "dev", "test", "held-out"};
    return (unsigned)s < 4 ? names[s] : "?";
}
